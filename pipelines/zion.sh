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
# `--device auto` trains on a GPU where torch sees one. $ZION_SEEDS (default "1 2") repeats the
# ablation with other seeds (other block splits and initial weights) into $ZION_WORK/seed-N/.
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

# 2. The chip dataset: read at 10 m (bilinear from 30 m), 224 px chips every 112 px, TOA
#    reflectance 2e-5 x DN - 0.1 stretched 0..0.3 -> 1..255, exact NLCD fractions per chip,
#    6 x 6 km blocks.
lulcmap prepare "$WORK/landsat_rgb.vrt" \
    --rgb-bands B4,B3,B2 --scale 2e-5 --offset -0.1 --pixel-size 10 \
    --reference "$DATA/zion/nlcd2011.tif" --crosswalk nlcd \
    --dem "$DATA/zion/srtm.tif" \
    --climate-var "temp_ave=$DATA/worldclim-10m/wc2.1_10m_bio_1.tif" \
    --climate-var "prec_jan=$DATA/worldclim-10m/wc2.1_10m_prec_01.tif" \
    --chip-size 224 --stride 112 --block-size 6000x6000 \
    --out "$WORK/zion.zarr" --overwrite

# 3. Train with all four ancillary variables (the shipped model), then the same without the
#    ancillary branch (the ablation): same seed, so the same blocks and the same batches.
TRAIN=(--epochs 40 --batch-size 32 --lr 2e-3 --device auto --licence CC-BY-SA-4.0)
ANC=(--ancillary elevation,slope,temp_ave,prec_jan --units prec_jan=mm)
lulcmap train "$WORK/zion.zarr" --out "$MODEL" --id zion-landsat-nlcd --seed 0 \
    "${ANC[@]}" --overwrite "${TRAIN[@]}" \
    --data "Landsat 8 OLI RGB, 30 m read at 10 m, Zion NP, Utah (NOT Sentinel-2) + NLCD 2011 via the nlcd crosswalk: 1110 chips" \
    --description "Landsat 8 (NOT Sentinel-2) RGB at 30 m resampled to 10 m, Zion National Park, Utah; NLCD 2011 -> SIPNA N2 via the nlcd crosswalk; ancillary elevation, slope (SRTM), temp_ave (WorldClim bio_1), prec_jan (WorldClim January precipitation). A demonstration of lulcmap train on real imagery, not a model of Andalusia."
lulcmap train "$WORK/zion.zarr" --out "$WORK/zion-landsat-nlcd-noanc" --seed 0 \
    --ancillary none --overwrite "${TRAIN[@]}" \
    --description "Ablation of zion-landsat-nlcd: the same training without the ancillary branch."

# 4. Held-out blocks (the card records them and their bounds): reports with scatter plots.
lulcmap evaluate "$WORK/zion.zarr" --model "$MODEL" --split test \
    --out "$MODEL/evaluation" --overwrite
lulcmap evaluate "$WORK/zion.zarr" --model "$WORK/zion-landsat-nlcd-noanc" --split test \
    --out "$WORK/zion-landsat-nlcd-noanc/evaluation" --overwrite

# 5. The ablation again with other seeds: each seed draws its own test/validation blocks and
#    initial weights, shared by the two runs of a pair.
for SEED in ${ZION_SEEDS-1 2}; do
    lulcmap train "$WORK/zion.zarr" --out "$WORK/seed-$SEED/anc" --id "zion-seed-$SEED" \
        --seed "$SEED" "${ANC[@]}" --overwrite --quiet "${TRAIN[@]}"
    lulcmap train "$WORK/zion.zarr" --out "$WORK/seed-$SEED/noanc" --id "zion-seed-$SEED-noanc" \
        --seed "$SEED" --ancillary none --overwrite --quiet "${TRAIN[@]}"
done

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
