#!/usr/bin/env sh
# GPU throughput of a recipe: training images/s and GPU utilisation with the data pipeline vs
# synthetic tensors, and batch inference images/s at 512² in bf16. JSON on stdout.
set -eu
RECIPE="${1:-training/segmenter-phantom.yaml}"
skinscan bench-train "$RECIPE" --seconds 30 --json
