"""The legend derives N1 from N2 in one place; a card knows its levels and class count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lulcmap.errors import ConfigError, InputDataError
from lulcmap.legend import LEVELS, derived_levels, load_legend
from lulcmap.model.card import ModelCard, Weights

LEGEND = load_legend("sipna")
N1, N2 = len(LEGEND.n1), len(LEGEND.n2)


def _card(levels: tuple[str, ...]) -> ModelCard:
    return ModelCard(
        id="m", version="1", levels=levels, weights=Weights(file="w.safetensors", sha256=None)
    )


@given(
    values=arrays(np.float64, (N2, 3, 2), elements=st.floats(0, 1)),
    axis=st.sampled_from([0, 1, 2]),
)
def test_n1_is_the_sum_of_each_n1_class_n2_children(values: np.ndarray, axis: int) -> None:
    moved = np.moveaxis(values, 0, axis)
    levels = LEGEND.levels_from(moved, "N2", axis=axis)
    assert list(levels) == list(LEVELS)
    assert levels["N2"] is moved
    n1 = np.moveaxis(levels["N1"], axis, 0)
    assert n1.shape == (N1, 3, 2)
    for i, parent in enumerate(LEGEND.n1):
        children = [j for j, c in enumerate(LEGEND.n2) if c.parent == parent.name]
        np.testing.assert_allclose(n1[i], values[children].sum(axis=0), atol=1e-12)


def test_n1_values_give_n1_only() -> None:
    values = np.full((N1, 2), 0.2)
    assert LEGEND.levels_from(values, "N1") == {"N1": values}


def test_integer_percents_stay_integers() -> None:
    percent = np.zeros((4, N2), np.int64)
    percent[:, 0] = 100
    n1 = LEGEND.levels_from(percent, "N2", axis=1)["N1"]
    assert n1.dtype == np.int64 and (n1.sum(axis=1) == 100).all()


@pytest.mark.parametrize(("level", "count"), [("N2", N1), ("N1", N2)])
def test_wrong_class_count_is_refused(level: str, count: int) -> None:
    with pytest.raises(InputDataError, match=rf"^expected {level} fractions of .* got {count}$"):
        LEGEND.levels_from(np.zeros((count, 5)), level)


def test_derived_levels() -> None:
    assert derived_levels("N2") == ("N1", "N2")
    assert derived_levels("N1") == ("N1",)
    with pytest.raises(ConfigError, match="level must be one of"):
        derived_levels("N3")


@pytest.mark.parametrize(
    ("levels", "output", "maps", "n_classes"),
    [(("N1", "N2"), "N2", ("N1", "N2"), N2), (("N2",), "N2", ("N1", "N2"), N2),
     (("N1",), "N1", ("N1",), N1)],
)  # fmt: skip
def test_card_levels_and_class_count(
    levels: tuple[str, ...], output: str, maps: tuple[str, ...], n_classes: int
) -> None:
    card = _card(levels)
    assert card.output_level == output
    assert card.map_levels == maps
    assert card.n_classes == n_classes
