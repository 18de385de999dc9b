#!/usr/bin/env sh
# Train the shipped default segmenter on a CPU (about 15 minutes on 2 cores), from the
# repository root: data, training, evaluation beside the classical filters.
set -eu
skinscan datasets phantom --out runs/data/phantom-256 --n 2000 --size 256 --seed 0
skinscan datasets weak-labels datasets/samples/faces --out runs/data/weak-labels
skinscan train training/segmenter-phantom.yaml "$@"
skinscan evaluate runs/segmenter-phantom/bundle runs/data/phantom-256/manifest.jsonl \
    --split val --classical
