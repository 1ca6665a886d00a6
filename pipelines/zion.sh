#!/usr/bin/env bash
# The Zion model (models/zion-landsat-nlcd) and its ablation without ancillary data, from the data
# in $LULCMAP_DATA (default ../shared/data, beside the repository):
#
#   zion/landsat_b{2,3,4}.tif   Landsat 8 OLI blue/green/red, Collection 1 Level-1 DNs, 30 m,
#                               EPSG:32612, 2015-08-18 (NOT Sentinel-2)
#   zion/nlcd2011.tif           NLCD 2011 land cover, ~31.5 m, EPSG:26912 -> SIPNA N2 via the
#                               shipped `nlcd` crosswalk
#   zion/srtm.tif               SRTM DEM, EPSG:4326 -> elevation, slope
#   worldclim-10m/              WorldClim 2.1 at 10': bio_1 (annual mean temperature, degC) ->
#                               temp_ave; prec_01 (January precipitation, mm) -> prec_jan
#                               (CC BY-SA 4.0, hence the model's licence)
#
# Run from anywhere: `bash pipelines/zion.sh`. Intermediate files go to $ZION_WORK (default
# zion-work/ in the repository, git-ignored). CPU, 2 cores: prepare ~20 s, each training ~90 s;
# `device: auto` trains on a GPU where torch sees one. The ablation is repeated with seeds 1 and 2
# (other block splits and initial weights) into $ZION_WORK/seed-N/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LULCMAP_DATA:-../shared/data}
WORK=${ZION_WORK:-zion-work}
MODEL=models/zion-landsat-nlcd
mkdir -p "$WORK"

# 1. One red/green/blue scene: a VRT of bands 4, 3, 2, cropped (6-23 px) to the SRTM's extent.
#    Also prints and draws the reflectance histograms that identify the DNs as Level-1.
python pipelines/zion_scene.py "$DATA/zion" --within "$DATA/zion/srtm.tif" \
    --out "$WORK/landsat_rgb.vrt" --histogram "$MODEL/radiometry.png"

# 2-5. The lulcmap commands, declared in pipelines/zion.yaml: the chip dataset (read at 10 m,
#    TOA reflectance 2e-5 x DN - 0.1, exact NLCD fractions, 6 x 6 km blocks), the model and its
#    ablation without ancillary data (seed 0), their held-out reports, and the ablation again
#    with seeds 1 and 2.
lulcmap run pipelines/zion.yaml --overwrite --var "data=$DATA" --out "$WORK"

# 6. The ablation table (held-out means over classes, from the cards).
python - "$MODEL" "$WORK/zion-landsat-nlcd-noanc" "$WORK"/seed-*/anc "$WORK"/seed-*/noanc <<'PY'
import sys, yaml
print("| model | seed | ancillary | test chips | level | MAE % | RMSE % | RRMSE % | CC | F1 | baseline MAE % |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for folder in sys.argv[1:]:
    card = yaml.safe_load(open(f"{folder}/card.yaml"))
    anc = ", ".join(a["name"] for a in card["ancillary"]) or "none"
    for level in ("N1", "N2"):
        m = card["metrics"][level]["model"]["mean"]
        b = card["metrics"][level]["baseline"]["mean"]
        fmt = lambda v, d=2: "–" if v is None else f"{v:.{d}f}"
        print(f"| {card['id']} | {card['training']['seed']} | {anc} | "
              f"{card['metrics'][level]['model']['n_chips']} | {level} | {fmt(m['mae_percent'])} | "
              f"{fmt(m['rmse_percent'])} | {fmt(m['rrmse_percent'], 1)} | {fmt(m['cc'], 4)} | "
              f"{fmt(m['f1_macro'], 4)} | {fmt(b['mae_percent'])} |")
PY
