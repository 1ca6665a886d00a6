"""Names, units and class codes of the synthetic world (the SIPNA legend's N2 classes)."""

import numpy as np

CLIMATE_NAMES = ("evapotranspiration", "precipitation", "temp_ave", "temp_max", "temp_min")
ANCILLARY_NAMES = ("elevation", "slope", *CLIMATE_NAMES)
"""The seven ancillary variables of the published model, in the demo model's order."""
ANCILLARY_UNITS = {
    "elevation": "m",
    "slope": "degree",
    "evapotranspiration": "mm/year",
    "precipitation": "mm/year",
    "temp_ave": "degC",
    "temp_max": "degC",
    "temp_min": "degC",
}

# N2 codes of the SIPNA legend, in legend order.
(ARTIFICIAL, ANNUAL, GREENHOUSE, WOODY, MOSAIC, GRASSLAND, SHRUBLAND, FOREST, BARELAND, WETLAND) = (
    range(10)
)
N_CLASSES = 10

F32 = np.float32
"""The dtype of the world's float fields."""
