#!/bin/bash
# the fine-tune of the embedded x4 file on rig + registered clips (model card stage 10 run M's recipe)
cd /work/wt-rig
EPOCHS=${1:-40}
PYTHONPATH=$PWD OMP_NUM_THREADS=1 exec nice -n 2 /work/main/.venv/bin/python -m stdnet_ros train \
  --out runs/rig-ft --name rigft --init stdnet_ros/weights/default-x4.safetensors --head-guide --scales 4 \
  --loss mse --ema 0.999 --vary-frames --render 960 --mid-channels 8 --head-channels 8 --base guided \
  --guided-radius-x 1.5 --guided-eps 1e-4 --frames 3 --size 128 --scene room+indoor+clutter --chroma-420 0.5 \
  --batch 4 --lr 5e-5 --schedule cosine --adam-eps 1e-10 --val-clips 24 --depth-scale 0.8 1.3 \
  --rig-share 0.5 --threads 1 --seed 37 --epochs $EPOCHS --steps-per-epoch 100 --resume
