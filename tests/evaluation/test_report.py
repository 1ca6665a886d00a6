"""The report: valid PNG scatter plots, Markdown tables, metrics.json that round-trips."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from lulcmap.errors import MissingDependencyError, OutputExistsError
from lulcmap.evaluation import EvaluationResult, LevelMetrics, evaluate_model, select_chips
from lulcmap.evaluation.report import PAPER, markdown_report, require_matplotlib, write_report
from lulcmap.legend import load_legend
from lulcmap.testing import GREENHOUSE
from lulcmap.testing.chipdata import LookupModel, lookup_card, make_chip_dataset


@pytest.fixture(scope="module")
def result() -> EvaluationResult:
    rng = np.random.default_rng(5)
    n2 = rng.dirichlet(np.full(10, 0.4), size=60).astype(np.float32)
    n2[:, GREENHOUSE] = 0  # absent from the reference: RRMSE undefined
    n2 /= n2.sum(axis=1, keepdims=True)
    pred = np.clip(n2 + rng.normal(0, 0.05, n2.shape), 0, None)
    pred /= pred.sum(axis=1, keepdims=True)
    ds = make_chip_dataset(n2, blocks=np.repeat([0, 1, 2], 20))
    card = lookup_card(training={"split": {"test_blocks": [2], "train_blocks": [0, 1]}})
    sel = select_chips(ds, card)
    res = evaluate_model(
        ds, LookupModel(pred, card), chips=sel.evaluated, baseline_chips=sel.baseline
    )
    res.info["selection"] = sel.describe()
    return res


@pytest.fixture(scope="module")
def written(result: EvaluationResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_report(result, tmp_path_factory.mktemp("report") / "out")


def test_report_files(result: EvaluationResult, written: dict[str, Path]) -> None:
    paths = written
    out = paths["report"].parent
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json",
        "report.md",
        "scatter_N1.png",
        "scatter_N2.png",
    ]
    for level in ("N1", "N2"):
        image = mpimg.imread(paths[level])
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
        assert image[..., :3].std() > 0.05  # something is drawn
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_report(result, out)


def test_markdown_has_the_tables(result: EvaluationResult) -> None:
    text = markdown_report(result, plots={"N1": "scatter_N1.png", "N2": "scatter_N2.png"})
    m, b = result.model["N2"], result.baseline["N2"]  # type: ignore[index]
    assert "## N1" in text and "## N2" in text
    assert f"| **Model** | {m.averages['mae'].value:.2f} | {m.averages['rmse'].value:.2f} |" in text
    assert f"| Training-mean baseline | {b.averages['mae'].value:.2f} |" in text
    paper = PAPER["N2"]
    assert f"| Paper (BRITS + all ancillary) | {paper['mae']:.2f} | {paper['rmse']:.2f} |" in text
    for name in load_legend().names("N2"):
        assert f"| {name} |" in text
    assert "RRMSE averages 9 of 10 classes (absent from the reference: Greenhouses)" in text
    assert "![N2: predicted vs reference abundance](scatter_N2.png)" in text
    assert "20 chips, the held-out blocks recorded in the model card: 2" in text
    assert "the training blocks recorded in the model card" in text
    assert "Averaged MAE looks small whenever most classes are rare" in text
    assert "**macro**" in text


def test_metrics_json_round_trips(result: EvaluationResult, written: dict[str, Path]) -> None:
    data = json.loads(written["metrics"].read_text("utf-8"))
    assert data["selection"]["split"] == "test" and data["counts"]["evaluated"] == 20
    assert data["model"]["id"] == "lookup"
    assert data["lulcmap_version"]
    for level in ("N1", "N2"):
        for who in ("model", "baseline"):
            original: LevelMetrics = getattr(result, who)[level]
            back = LevelMetrics.from_dict(data["levels"][level][who])
            assert back.classes == original.classes and back.n_chips == original.n_chips
            for name in ("mae", "rmse", "rrmse", "cc", "f1", "support", "prediction_mean"):
                np.testing.assert_allclose(getattr(back, name), getattr(original, name))
            assert math.isclose(back.f1_macro, original.f1_macro)
    greenhouses = data["levels"]["N2"]["model"]["per_class"]["Greenhouses"]
    assert greenhouses["rrmse_percent"] is None  # NaN is written as null


def test_missing_matplotlib_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match="pip install matplotlib"):
        require_matplotlib()
