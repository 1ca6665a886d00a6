"""The range check of ancillary values against a card's statistics, on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from lulcmap.model.card import AncillaryVar
from lulcmap.model.ranges import (
    SIGMAS,
    UNIT_CONFUSIONS,
    UnitConfusion,
    accepted_range,
    check_ancillary,
    check_variable,
    checked_names,
)

TEMP = AncillaryVar(name="temp_ave", units="degC", mean=15.0, std=3.0)  # range 0..30
PREC = AncillaryVar(name="precipitation", units="mm/year", mean=620.0, std=240.0)
PREC_JAN = AncillaryVar(name="prec_jan", units="mm", mean=40.0, std=2.0)
ELEV = AncillaryVar(name="elevation", units="m", mean=500.0, std=400.0)
TEMP_K = AncillaryVar(name="t2m", units="K", mean=288.0, std=3.0)
PLACEHOLDER = AncillaryVar(name="temp_max", units="degC")  # no statistics: mean 0, std 1


def cells(values: list[float], shape: tuple[int, int] = (3, 4)) -> np.ndarray:
    """``values`` in a (rows, cols) array, the rest NaN (cells without ancillary values)."""
    out = np.full(shape, np.nan)
    out.flat[: len(values)] = values
    return out


def test_values_within_range_give_no_finding() -> None:
    low, high = accepted_range(TEMP)
    assert (low, high) == (15.0 - SIGMAS * 3.0, 15.0 + SIGMAS * 3.0)
    values = {"temp_ave": cells([low, high, 15.0, 2.0, 28.0]), "elevation": cells([0.0, 2400.0])}
    assert check_ancillary([TEMP, ELEV], values) == []


def test_one_cell_beyond_five_sigma_is_out_of_range() -> None:
    values = cells([14.0, 16.0, 15.0, 30.5])  # 30.5 > 15 + 5 * 3
    (finding,) = check_ancillary([TEMP], {"temp_ave": values})
    assert finding.kind == "out_of_range" and finding.variable == "temp_ave"
    assert finding.observed == (14.0, 30.5) and finding.accepted == (0.0, 30.0)
    assert (finding.n_outside, finding.n_cells) == (1, 4)
    message = finding.message("m1")
    assert message.startswith("temp_ave: values 14..30.5 are outside model m1's range 0..30 degC")
    assert "1 of 4 cells" in message and "\n" not in message


def test_kelvin_grid_for_a_degc_card_is_wrong_unit() -> None:
    values = cells([283.1, 290.0, 295.4, np.nan, 288.2])
    (finding,) = check_ancillary([TEMP], {"temp_ave": values})
    assert finding.kind == "wrong_unit" and finding.looks_like == "kelvin"
    assert finding.observed == (283.1, 295.4)
    message = finding.message("demo-synthetic")
    assert message.startswith(
        "temp_ave: values 283.1..295.4 are outside model demo-synthetic's range 0..30 degC"
    )
    assert "looks like kelvin" in message and "convert the grid to degC" in message


def test_kelvin_is_recognised_far_from_the_cards_mean() -> None:
    """A cold scene in kelvin (-23 °C) is still kelvin: no °C mean temperature is near 250."""
    finding = check_variable(TEMP, cells([249.0, 251.0]))
    assert finding is not None and finding.looks_like == "kelvin"


def test_degc_grid_for_a_kelvin_card_is_wrong_unit() -> None:
    finding = check_variable(TEMP_K, cells([12.0, 14.0, 18.0]))
    assert finding is not None and finding.kind == "wrong_unit" and finding.looks_like == "degC"
    assert "add 273.15" in finding.message("m")


def test_fahrenheit_grid_for_a_degc_card() -> None:
    finding = check_variable(TEMP, cells([57.0, 59.0, 61.0]))  # 15 °C = 59 °F
    assert finding is not None and finding.looks_like == "degF"


def test_monthly_totals_for_an_annual_card_inside_the_range_are_wrong_unit() -> None:
    """620 mm/year / 12 = 52 mm: inside the card's wide range (-580..1820), yet in another unit."""
    finding = check_variable(PREC, cells([45.0, 52.0, 60.0]))
    assert finding is not None and finding.kind == "wrong_unit"
    assert finding.looks_like == "monthly totals" and finding.n_outside == 0
    assert "do not fit model" in finding.message("m") and "multiply by 12" in finding.message("m")


def test_precipitation_in_metres_is_not_taken_for_monthly_totals() -> None:
    finding = check_variable(PREC, cells([0.5, 0.62, 0.7]))
    assert finding is not None and finding.looks_like == "metres"


def test_annual_totals_for_a_monthly_card() -> None:
    finding = check_variable(PREC_JAN, cells([470.0, 480.0, 490.0]))  # 12 x 40
    assert finding is not None and finding.looks_like == "annual totals"


def test_a_dry_but_plausible_region_is_not_a_unit_confusion() -> None:
    """100 mm/year is 2.2 σ below the card's mean but nearer it than 12 x 100 is: no finding."""
    assert check_variable(PREC, cells([95.0, 100.0, 105.0])) is None


def test_high_terrain_is_out_of_range_not_feet() -> None:
    finding = check_variable(ELEV, cells([4900.0, 5000.0, 5100.0]))
    assert finding is not None and finding.kind == "out_of_range" and finding.looks_like is None


def test_nan_cells_are_ignored() -> None:
    values = cells([14.0, 16.0], shape=(2, 2))
    values[1, 1] = np.inf  # not finite either
    assert check_variable(TEMP, values) is None
    assert check_variable(TEMP, np.full((2, 2), np.nan)) is None


def test_placeholder_statistics_are_not_checked() -> None:
    kelvin = cells([290.0, 300.0])
    assert check_ancillary([PLACEHOLDER], {"temp_max": kelvin}) == []
    assert checked_names([TEMP, PLACEHOLDER]) == (["temp_ave"], ["temp_max"])


def test_no_ancillary_variables_nothing_to_check() -> None:
    """A card without ancillary variables (the zero-shot pixel encoder) is never flagged."""
    assert check_ancillary([], {"temp_ave": cells([300.0])}) == []


def test_one_finding_per_variable_in_card_order() -> None:
    values = {"elevation": cells([9000.0]), "temp_ave": cells([290.0])}
    found = check_ancillary([TEMP, ELEV], values)
    assert [(f.variable, f.kind) for f in found] == [
        ("temp_ave", "wrong_unit"),
        ("elevation", "out_of_range"),
    ]
    record = found[0].to_dict()
    assert record["kind"] == "wrong_unit" and record["observed"] == [290.0, 290.0]


BY_UNIT = {
    "degc": TEMP,
    "k": TEMP_K,
    "mm/year": PREC,
    "mm/month": AncillaryVar(name="prec_jan", units="mm/month", mean=40.0, std=2.0),
}


@pytest.mark.parametrize("confusion", UNIT_CONFUSIONS, ids=lambda c: c.looks_like)
def test_each_declared_confusion_is_recognised(confusion: UnitConfusion) -> None:
    """For each entry of the table: the card's values, converted into the confused unit, are
    diagnosed as that unit (no entry shadows another); the card's own values are not."""
    var = BY_UNIT[confusion.units[0]]
    given = var.mean * confusion.scale + confusion.offset
    finding = check_variable(var, cells([given * 0.99, given, given * 1.01]))
    assert finding is not None and finding.looks_like == confusion.looks_like
    assert check_variable(var, cells([var.mean - var.std, var.mean + var.std])) is None
