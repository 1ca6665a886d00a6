"""evaluate_model on a perfect and a shifted prediction, the baseline, and chip selection."""

from __future__ import annotations

import numpy as np
import pytest

from lulcmap.errors import ConfigError, InputDataError, MissingVariableError, ModelCardError
from lulcmap.evaluation import evaluate_arrays, evaluate_model, select_chips
from lulcmap.legend import load_legend
from lulcmap.testing import ANNUAL, ARTIFICIAL, FOREST
from lulcmap.testing.chipdata import (
    LookupModel,
    block_bounds,
    lookup_card,
    make_chip_dataset,
    random_fractions,
)

LEGEND = load_legend("sipna")


def random_n2(n: int, seed: int = 1) -> np.ndarray:
    return random_fractions(n, alpha=0.4, seed=seed, dtype=np.float32)


def split_card(test: list[int], train: list[int] | None = None, **extra: object):
    split: dict[str, object] = {"test_blocks": test, **extra}
    if train is not None:
        split["train_blocks"] = train
    return lookup_card(training={"split": split})


def test_a_perfect_prediction_scores_perfectly() -> None:
    n2 = random_n2(60)
    ds = make_chip_dataset(n2, blocks=np.repeat([0, 1, 2], 20))
    result = evaluate_model(ds, LookupModel(ds["n2"].values), batch_size=7)
    assert result.levels == ("N1", "N2")
    for level in ("N1", "N2"):
        m = result.model[level]
        assert m.n_chips == 60
        np.testing.assert_allclose(m.mae, 0, atol=1e-5)
        np.testing.assert_allclose(m.rmse, 0, atol=1e-5)
        np.testing.assert_allclose(m.cc, 1, atol=1e-6)
        assert m.f1_macro == pytest.approx(1.0)
        assert m.f1_weighted == pytest.approx(1.0)
    # the N1 reference is the legend sum of N2
    np.testing.assert_allclose(result.reference["N1"], LEGEND.aggregate(n2, axis=1), atol=1e-6)


def test_a_shifted_prediction_gives_the_known_mae() -> None:
    # Every chip has >= 20 % annual croplands; the prediction moves 10 points from annual
    # croplands to artificial. The shift sums to 0, so it is already renormalised (sums stay 1).
    n2 = 0.8 * random_n2(40, seed=3)
    n2[:, ANNUAL] += 0.2
    shifted = n2.copy()
    shifted[:, ARTIFICIAL] += 0.1
    shifted[:, ANNUAL] -= 0.1
    ds = make_chip_dataset(n2, blocks=np.repeat([0, 1], 20))
    m = evaluate_model(ds, LookupModel(shifted)).model
    expected = np.zeros(10)
    expected[[ARTIFICIAL, ANNUAL]] = 10.0
    np.testing.assert_allclose(m["N2"].mae, expected, atol=1e-4)
    np.testing.assert_allclose(m["N2"].rmse, expected, atol=1e-4)
    # N2 mean MAE: 20 / 10 classes = 2 %; N1: artificial +10, agricultural -10 -> 20 / 4 = 5 %
    assert m["N2"].averages["mae"].value == pytest.approx(2.0, abs=1e-4)
    assert m["N1"].averages["mae"].value == pytest.approx(5.0, abs=1e-4)
    np.testing.assert_allclose(m["N2"].cc, 1, atol=1e-5)  # a shift keeps correlations


def test_the_baseline_is_the_training_mean_on_the_test_blocks() -> None:
    # Chips 0-1 in block 0 (training), 2-3 in block 1 (test); only artificial and forests.
    n2 = np.zeros((4, 10), np.float32)
    n2[:, ARTIFICIAL] = [0.2, 0.4, 0.1, 0.5]
    n2[:, FOREST] = [0.8, 0.6, 0.9, 0.5]
    ds = make_chip_dataset(n2, blocks=[0, 0, 1, 1])
    card = split_card([1], [0], block_bounds={1: list(block_bounds(1))})
    selection = select_chips(ds, card)
    np.testing.assert_array_equal(selection.evaluated, [False, False, True, True])
    assert selection.baseline_source == "card"
    result = evaluate_model(
        ds, LookupModel(n2, card), chips=selection.evaluated, baseline_chips=selection.baseline
    )
    assert result.baseline is not None
    b = result.baseline["N2"]
    # training mean: artificial (0.2 + 0.4) / 2 = 0.3, forests (0.8 + 0.6) / 2 = 0.7
    # artificial: |30 - 10|, |30 - 50| -> MAE 20; mean reference 30 -> RRMSE 20 / 30 = 66.667 %
    # forests:    |70 - 90|, |70 - 50| -> MAE 20; mean reference 70 -> RRMSE 20 / 70 = 28.571 %
    assert b.mae[ARTIFICIAL] == pytest.approx(20, abs=1e-4)
    assert b.mae[FOREST] == pytest.approx(20, abs=1e-4)
    assert b.rrmse[ARTIFICIAL] == pytest.approx(200 / 3, abs=1e-3)
    assert b.rrmse[FOREST] == pytest.approx(200 / 7, abs=1e-3)
    # N2 mean MAE: 40 / 10 classes; RRMSE over the 2 classes present (8 are absent -> NaN)
    assert b.averages["mae"].value == pytest.approx(4.0, abs=1e-4)
    assert b.averages["rrmse"].value == pytest.approx((200 / 3 + 200 / 7) / 2, abs=1e-3)
    assert b.averages["rrmse"].n_nan == 8
    # N1: artificial -> Artificial, forests -> Terrestrial wildlands: the same errors on 4 classes
    assert result.baseline["N1"].averages["mae"].value == pytest.approx(10.0, abs=1e-4)
    # the model (a perfect lookup) beats it
    assert result.model["N2"].averages["mae"].value == pytest.approx(0, abs=1e-5)


def test_ancillary_is_fed_by_name_in_the_cards_order() -> None:
    ds = make_chip_dataset(random_n2(5), ancillary=["temp_ave", "extra", "elevation", "slope"])
    card = lookup_card(ancillary=["elevation", "slope", "temp_ave"])
    model = LookupModel(ds["n2"].values, card)
    evaluate_model(ds, model, batch_size=2)
    fed = np.concatenate([a.numpy() for a in model.seen_ancillary])
    want = ds["ancillary"].sel(variable=["elevation", "slope", "temp_ave"]).values
    np.testing.assert_array_equal(fed, want)


def test_missing_ancillary_names_what_is_missing() -> None:
    ds = make_chip_dataset(random_n2(3), ancillary=["elevation"])
    with pytest.raises(MissingVariableError, match=r"slope.*it has: elevation"):
        evaluate_model(ds, LookupModel(ds["n2"].values))


def test_chip_size_and_classes_must_match_the_card() -> None:
    ds = make_chip_dataset(random_n2(3), chip_size=8)
    with pytest.raises(ModelCardError, match="chip size 16"):
        evaluate_model(ds, LookupModel(ds["n2"].values))
    ds = make_chip_dataset(random_n2(3)).assign_coords(class_n2=[f"c{i}" for i in range(10)])
    with pytest.raises(InputDataError, match="N2 classes"):
        evaluate_model(ds, LookupModel(ds["n2"].values))


def test_chips_without_reference_are_left_out_and_counted() -> None:
    n2 = random_n2(6)
    n2[0] = np.nan
    n2[1] = 0.0
    ds = make_chip_dataset(n2)
    result = evaluate_model(ds, LookupModel(np.nan_to_num(n2)))
    assert result.model["N2"].n_chips == 4
    assert result.info["counts"]["excluded_no_reference"] == 2
    with pytest.raises(InputDataError, match="none of the 2 selected chips has both a ref"):
        evaluate_model(ds, LookupModel(np.nan_to_num(n2)), chips=[0, 1])


def test_chips_missing_an_ancillary_value_the_model_needs_are_left_out() -> None:
    ds = make_chip_dataset(random_n2(5), ancillary=["elevation", "slope", "unused"])
    ds["ancillary"][0, 1] = np.nan  # slope of chip 0: needed
    ds["ancillary"][1, 2] = np.nan  # "unused" of chip 1: not needed
    card = lookup_card(ancillary=["slope", "elevation"])
    result = evaluate_model(ds, LookupModel(ds["n2"].values, card))
    assert result.model["N2"].n_chips == 4
    assert result.info["counts"]["excluded_no_ancillary"] == 1


def test_an_n1_model_is_scored_at_n1_only() -> None:
    ds = make_chip_dataset(random_n2(8))
    card = lookup_card(levels=["N1"])
    result = evaluate_model(ds, LookupModel(ds["n1"].values, card))
    assert result.levels == ("N1",)
    assert result.model["N1"].averages["mae"].value == pytest.approx(0, abs=1e-5)
    with pytest.raises(ConfigError, match="N2"):
        evaluate_model(ds, LookupModel(ds["n1"].values, card), levels=["N2"])


def test_evaluate_arrays_derives_n1_from_n2() -> None:
    n2 = random_n2(10)
    result = evaluate_arrays(n2, n2, LEGEND, "N2", baseline_reference=n2[:3])
    assert set(result.model) == {"N1", "N2"}
    assert result.model["N1"].classes == tuple(LEGEND.names("N1"))
    assert result.baseline is not None and result.baseline["N1"].n_chips == 10


# -- selection ------------------------------------------------------------------------------------
BLOCKS = np.repeat([0, 1, 2, 3], 3)


def test_split_all_without_training_blocks_uses_an_in_sample_baseline() -> None:
    ds = make_chip_dataset(random_n2(12), blocks=BLOCKS)
    sel = select_chips(ds, lookup_card(), split="all")
    assert sel.evaluated.all() and sel.blocks is None
    assert sel.baseline_source == "in_sample" and sel.in_sample_baseline
    np.testing.assert_array_equal(sel.baseline, sel.evaluated)


def test_blocks_and_train_blocks() -> None:
    ds = make_chip_dataset(random_n2(12), blocks=BLOCKS)
    sel = select_chips(ds, lookup_card(), blocks=[3], train_blocks=[0, 1])
    np.testing.assert_array_equal(sel.evaluated, BLOCKS == 3)
    np.testing.assert_array_equal(sel.baseline, np.isin(BLOCKS, [0, 1]))
    assert sel.baseline_source == "train_blocks"
    sel = select_chips(ds, lookup_card(), blocks=[3])
    assert sel.baseline_source == "complement"
    np.testing.assert_array_equal(sel.baseline, BLOCKS != 3)
    assert sel.baseline_blocks == (0, 1, 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ConfigError, r"records no held-out blocks.*--split all.*--blocks"),
        ({"split": "bogus", "card": split_card([1])}, ConfigError, "must be one of test, all"),
        ({"split": "all", "blocks": [1]}, ConfigError, "not both"),
        ({"blocks": [9]}, ConfigError, r"blocks 9 are not in the dataset \(its blocks: 0, 1, 2"),
        ({"blocks": [1], "train_blocks": [8]}, ConfigError, "--train-blocks 8 have no chips"),
        ({"card": split_card([7, 8])}, InputDataError, r"none of model lookup's test blocks"),
    ],
)
def test_selection_errors(kwargs: dict, error: type[Exception], match: str) -> None:
    ds = make_chip_dataset(random_n2(12), blocks=BLOCKS)
    card = kwargs.pop("card", lookup_card())
    with pytest.raises(error, match=match):
        select_chips(ds, card, **kwargs)


def test_test_blocks_are_rechecked_against_the_cards_bounds() -> None:
    ds = make_chip_dataset(random_n2(12), blocks=BLOCKS)
    good = split_card([1, 2], block_bounds=[list(block_bounds(1)), list(block_bounds(2))])
    assert select_chips(ds, good).blocks == (1, 2)
    moved = [b + 50_000 for b in block_bounds(1)]
    bad = split_card([1], block_bounds={"1": moved})
    with pytest.raises(InputDataError, match="3 chips of block 1 lie outside the bounds"):
        select_chips(ds, bad)
    other_crs = split_card([1], crs="EPSG:4326")
    with pytest.raises(InputDataError, match="CRS"):
        select_chips(ds, other_crs)
    same_crs = split_card([1], crs="epsg:32612")
    assert select_chips(ds, same_crs).split == "test"
