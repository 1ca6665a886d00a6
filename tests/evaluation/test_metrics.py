"""The papers' metrics against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lulcmap.errors import InputDataError
from lulcmap.evaluation.metrics import (
    LevelMetrics,
    baseline_prediction,
    f1_scores,
    level_metrics,
    mae,
    majority_labels,
    nan_mean,
    pearson_cc,
    rmse,
    rrmse,
    training_mean,
)

# 3 chips x 2 classes. Errors p - r in percent points:
#   class 0: +10, -10, 0      class 1: -10, +10, 0
R = np.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.2]])
P = np.array([[0.3, 0.7], [0.4, 0.6], [0.8, 0.2]])


def test_mae_by_hand() -> None:
    # (10 + 10 + 0) / 3 = 6.6667 for both classes
    np.testing.assert_allclose(mae(R, P), [20 / 3, 20 / 3])


def test_rmse_by_hand() -> None:
    # sqrt((100 + 100 + 0) / 3) = sqrt(66.667) = 8.16497
    np.testing.assert_allclose(rmse(R, P), [math.sqrt(200 / 3)] * 2)
    np.testing.assert_allclose(rmse(R, P), [8.16497] * 2, atol=1e-5)


def test_rrmse_by_hand() -> None:
    # mean reference of each class: (20 + 50 + 80) / 3 = 50 %; 8.16497 / 50 * 100 = 16.3299 %
    np.testing.assert_allclose(rrmse(R, P), [16.3299] * 2, atol=1e-4)


def test_cc_by_hand() -> None:
    # class 0: r = 20, 50, 80 (deviations -30, 0, 30); p = 30, 40, 80 (mean 50: -20, -10, 30)
    #   sum dr*dp = 600 + 0 + 900 = 1500; sum dr^2 = 1800; sum dp^2 = 400 + 100 + 900 = 1400
    #   CC = 1500 / sqrt(1800 * 1400) = 1500 / 1587.451 = 0.944911
    # class 1 mirrors class 0 (r and p are 100 minus class 0), so the same CC.
    np.testing.assert_allclose(pearson_cc(R, P), [0.944911] * 2, atol=1e-6)


def test_rrmse_is_nan_for_a_class_absent_from_the_reference() -> None:
    r = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    p = np.array([[0.9, 0.1], [1.0, 0.0], [0.8, 0.2]])
    # class 1: errors 10, 0, 20 -> MAE 10; RMSE sqrt((100 + 0 + 400) / 3) = 12.9099
    # class 0: errors -10, 0, -20 -> the same RMSE; mean reference 100 % -> RRMSE 12.9099 %
    # class 1: mean reference 0 -> RRMSE undefined
    np.testing.assert_allclose(mae(r, p), [10, 10])
    out = rrmse(r, p)
    assert out[0] == pytest.approx(12.9099, abs=1e-4)
    assert math.isnan(out[1])
    # the mean over classes skips it and says so
    assert nan_mean(out) == (pytest.approx(12.9099, abs=1e-4), 1, 2)
    # both reference columns are constant: CC is undefined for both
    assert np.isnan(pearson_cc(r, p)).all()


def test_cc_is_nan_for_a_constant_prediction() -> None:
    p = np.tile([0.5, 0.5], (3, 1))
    assert np.isnan(pearson_cc(R, p)).all()
    # |50 - 20|, |50 - 50|, |50 - 80| -> (30 + 0 + 30) / 3 = 20
    np.testing.assert_allclose(mae(R, p), [20, 20])
    assert np.isnan(pearson_cc(R[:1], P[:1])).all()  # one chip: no correlation


def test_majority_labels_ties_go_to_the_first_class() -> None:
    # chip 1 is a 50/50 tie -> class 0
    np.testing.assert_array_equal(majority_labels(R), [1, 0, 0])
    np.testing.assert_array_equal(majority_labels(P), [1, 1, 0])


def test_f1_from_fractions_by_hand() -> None:
    # reference labels [1, 0, 0], predicted [1, 1, 0]
    # class 0: TP 1 (chip 2), FP 0, FN 1 (chip 1) -> 2 / (2 + 0 + 1) = 2/3
    # class 1: TP 1 (chip 0), FP 1 (chip 1), FN 0 -> 2 / (2 + 1 + 0) = 2/3
    f1 = f1_scores(majority_labels(R), majority_labels(P), 2)
    np.testing.assert_allclose(f1.per_class, [2 / 3, 2 / 3])
    assert f1.macro == pytest.approx(2 / 3)
    assert f1.weighted == pytest.approx(2 / 3)  # (2 * 2/3 + 1 * 2/3) / 3
    np.testing.assert_array_equal(f1.support, [2, 1])


def test_f1_macro_and_weighted_by_hand() -> None:
    ref = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, 1])
    # class 0: TP 2, FP 0, FN 1 -> 4 / 5 = 0.8
    # class 1: TP 2, FP 2 (chips 2, 5), FN 0 -> 4 / 6 = 0.6667
    # class 2: TP 0, FP 0, FN 1 -> 0
    # class 3: never a label on either side -> undefined, left out of the macro mean
    f1 = f1_scores(ref, pred, 4)
    np.testing.assert_allclose(f1.per_class[:3], [0.8, 2 / 3, 0.0])
    assert math.isnan(f1.per_class[3])
    # macro: (0.8 + 0.6667 + 0) / 3 = 0.48889
    assert f1.macro == pytest.approx(0.488889, abs=1e-6)
    # weighted by support 3, 2, 1 (and 0): (3 * 0.8 + 2 * 0.6667 + 0) / 6 = 0.62222
    assert f1.weighted == pytest.approx(0.622222, abs=1e-6)
    assert f1.accuracy == pytest.approx(4 / 6)
    np.testing.assert_array_equal(f1.support, [3, 2, 1, 0])


def test_training_mean_baseline_by_hand() -> None:
    train = np.array([[0.2, 0.8], [0.4, 0.6]])
    test = np.array([[0.1, 0.9], [0.5, 0.5]])
    # training mean: [(0.2 + 0.4) / 2, (0.8 + 0.6) / 2] = [0.3, 0.7]
    np.testing.assert_allclose(training_mean(train), [0.3, 0.7])
    base = baseline_prediction(train, len(test))
    np.testing.assert_allclose(base, [[0.3, 0.7], [0.3, 0.7]])
    m = level_metrics(test, base, ["a", "b"], level="N1")
    # class 0: |30 - 10|, |30 - 50| -> MAE 20, RMSE 20; mean reference 30 -> RRMSE 66.667
    # class 1: |70 - 90|, |70 - 50| -> MAE 20, RMSE 20; mean reference 70 -> RRMSE 28.571
    np.testing.assert_allclose(m.mae, [20, 20])
    np.testing.assert_allclose(m.rmse, [20, 20])
    np.testing.assert_allclose(m.rrmse, [200 / 3, 200 / 7])
    assert np.isnan(m.cc).all()  # a constant prediction
    assert m.averages["rrmse"].value == pytest.approx((200 / 3 + 200 / 7) / 2)
    assert m.averages["cc"] == (pytest.approx(math.nan, nan_ok=True), 2, 2)


def test_level_metrics_averages_and_round_trip() -> None:
    m = level_metrics(R, P, ["a", "b"], level="N1")
    assert m.n_chips == 3
    assert m.averages["mae"].value == pytest.approx(20 / 3)
    assert m.averages["cc"].value == pytest.approx(0.944911, abs=1e-6)
    np.testing.assert_allclose(m.reference_mean, [50, 50])
    np.testing.assert_allclose(m.prediction_mean, [50, 50])
    back = LevelMetrics.from_dict(m.to_dict())
    for name in ("mae", "rmse", "rrmse", "cc", "f1", "support", "reference_mean"):
        np.testing.assert_allclose(getattr(back, name), getattr(m, name))
    assert (back.f1_macro, back.f1_weighted, back.accuracy) == (
        m.f1_macro,
        m.f1_weighted,
        m.accuracy,
    )


def test_nan_is_null_in_the_dict_and_comes_back() -> None:
    r = np.array([[1.0, 0.0], [1.0, 0.0]])
    m = level_metrics(r, r, ["a", "b"], level="N1")
    d = m.to_dict()
    assert d["per_class"]["b"]["rrmse_percent"] is None
    assert d["nan_classes"]["rrmse"] == ["b"]
    assert d["nan_classes"]["f1"] == ["b"]  # b is never the majority class
    assert math.isnan(LevelMetrics.from_dict(d).rrmse[1])


@pytest.mark.parametrize(
    ("reference", "prediction"),
    [(R, P[:2]), (R[:, 0], P[:, 0]), (R, np.where(P > 0.7, np.nan, P))],
)
def test_bad_arrays_are_clear_errors(reference: np.ndarray, prediction: np.ndarray) -> None:
    with pytest.raises(InputDataError, match=r"reference|prediction"):
        mae(reference, prediction)


def test_no_chips_is_an_error() -> None:
    with pytest.raises(InputDataError, match="no chips"):
        level_metrics(np.zeros((0, 2)), np.zeros((0, 2)), ["a", "b"], level="N1")
