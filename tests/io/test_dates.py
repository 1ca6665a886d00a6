"""Acquisition dates from file names and tags, and the user's --date."""

from __future__ import annotations

from datetime import date

import pytest

from lulcmap.errors import ConfigError
from lulcmap.io.dates import parse_date, scene_date


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # Sentinel-2 product: sensing time first, processing time (a day later) second
        ("S2A_MSIL2A_20230615T105031_N0509_R051_T30SUG_20230616T165328.SAFE", date(2023, 6, 15)),
        ("GRANULE/L2A_T30SUG/IMG_DATA/R10m/T30SUG_20230615T105031_B04_10m.jp2", date(2023, 6, 15)),
        ("S2_NDVI_20150711T100008.tif", date(2015, 7, 11)),
        ("TERRA_MODIS_012010_NDVI_2013-09-14.jp2", date(2013, 9, 14)),
        ("MOD09A1.A2019001.h08v05.006.2019010203152.hdf", date(2019, 1, 1)),
        ("MOD13Q1.A2019032.h12v10.061.hdf", date(2019, 2, 1)),
        ("MOD13Q1.A2020366.tif", date(2020, 12, 31)),  # leap year
        ("LC08_L2SP_034030_20190513_20190521_02_T1_SR_B4.TIF", date(2019, 5, 13)),
        ("scene_2023-06-15.tif", date(2023, 6, 15)),
        ("/data/2021-03-04/scene.tif", date(2021, 3, 4)),  # from the folder
        ("/data/2021-03-04/S2B_20210305T101010.tif", date(2021, 3, 5)),  # the name wins
        # not dates
        ("scene_2023-13-01.tif", None),
        ("scene_20230230.tif", None),
        ("MOD13Q1.A2019366.tif", None),  # 2019 has 365 days
        ("MOD13Q1.A2019000.tif", None),
        ("tile_12345678.tif", None),  # year 1234
        ("s2-patagonia/s2_patagonia_b02_b03_b04_b08.tif", None),
        ("scene_2023-06-15_20230701.tif", None),  # two forms disagree: ambiguous
        ("scene_2023-06.tif", None),
        ("S2A_MSIL2A.tif", None),
    ],
)
def test_date_from_name(path: str, expected: date | None) -> None:
    assert scene_date(path) == expected


def test_tags_first() -> None:
    name = "S2A_MSIL2A_20230615T105031_N0509_R051_T30SUG_20230615T165328.SAFE"
    assert scene_date(name, {"ACQUISITION_TIME": "2015-07-11T10:00:08"}) == date(2015, 7, 11)
    sensing = {"DATATAKE_1_DATATAKE_SENSING_START": "2023-06-14T10:50:31.024Z"}
    assert scene_date(name, sensing) == date(2023, 6, 14)
    assert scene_date("x.tif", {"PRODUCT_START_TIME": "2020-01-02T03:04:05Z"}) == date(2020, 1, 2)
    assert scene_date("x.tif", {"date_acquired": "2019-05-13"}) == date(2019, 5, 13)
    # an unreadable tag is skipped
    assert scene_date(name, {"ACQUISITION_TIME": "unknown"}) == date(2023, 6, 15)


def test_tiff_datetime_is_the_last_resort() -> None:
    created = {"TIFFTAG_DATETIME": "2024:01:05 12:00:00"}
    assert scene_date("mosaic.tif", created) == date(2024, 1, 5)
    assert scene_date("S2_NDVI_20150711T100008.tif", created) == date(2015, 7, 11)
    both = {**created, "ACQUISITION_TIME": "2015-07-11T10:00:08"}
    assert scene_date("mosaic.tif", both) == date(2015, 7, 11)
    assert scene_date("mosaic.tif", {"TIFFTAG_DATETIME": "2024:13:05 12:00:00"}) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-06-15", date(2023, 6, 15)),
        ("2023-06", date(2023, 6, 1)),
        (" 2024-02-29 ", date(2024, 2, 29)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2023-13-01", "2023-02-30", "15/06/2023", "20230615", "2023", ""])
def test_parse_date_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="YYYY-MM-DD or YYYY-MM") as err:
        parse_date(text)
    assert "\n" not in str(err.value)
