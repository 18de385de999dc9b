#!/usr/bin/env sh
# Train the FFHQ-Wrinkle segmenter on one GPU, from the repository root.
# FFHQ_WRINKLE: the dataset's base folder (images1024x1024/, manual_wrinkle_masks/, ...).
set -eu
: "${FFHQ_WRINKLE:?set FFHQ_WRINKLE to the FFHQ-Wrinkle base folder}"
python - <<PY
from skinscan.datasets import ffhq_wrinkle, write_manifest
write_manifest(ffhq_wrinkle("$FFHQ_WRINKLE"), "runs/data/ffhq-wrinkle/manifest.jsonl")
PY
CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}" \
    skinscan train training/segmenter-ffhq-wrinkle.yaml "$@"
