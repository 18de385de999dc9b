#!/usr/bin/env sh
# Train the FFHQ-Wrinkle segmenter on 8 GPUs of one machine (DistributedDataParallel), from the
# repository root, after gpu-single.sh has written the manifest. optim.batch_size is per
# process: 8 × 16 = 128 images per step, so the learning rate is scaled up 4× from the recipe's
# (linear scaling from 16 to 128 would be 8×; 4× with the warm-up is the safer start).
set -eu
torchrun --standalone --nproc_per_node=8 -m skinscan.training train \
    training/segmenter-ffhq-wrinkle.yaml --set optim.lr=4e-3 "$@"
