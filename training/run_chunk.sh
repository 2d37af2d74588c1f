#!/usr/bin/env bash
# One training chunk on the GPU machine (docs/training.md): trains the prior model and the
# face-vid2vid baseline side by side, each on half of the GPUs (or one after the other on a
# single GPU), then packs logs, validation, samples and exported weights into $OUT.
#   bash training/run_chunk.sh MINUTES [BATCH]
set -euo pipefail
minutes=${1:-8}
batch=${2:-16}
data=.gpu
runs=${RUNS:-/tmp/facecodec-runs}
source training/gpu_env.sh
gpus=$(nvidia-smi -L | wc -l)
train() {  # mode, devices, process count, extra arguments
  CUDA_VISIBLE_DEVICES=$2 torchrun --standalone --nproc-per-node "$3" -m facecodec.training.train \
    --mode "$1" --data-dir "$data" --params "$data/prior_params.npz" \
    --vgg "$data/vgg16.safetensors" --run-dir "$runs/$1" --minutes "$minutes" \
    --batch-size "$batch" ${EXTRA:-} > "$runs/$1.out" 2>&1
}
mkdir -p "$runs"
if [ "$gpus" -ge 2 ]; then
  half=$((gpus / 2))
  train prior "$(seq -s, 0 $((half - 1)))" "$half" &
  train baseline "$(seq -s, "$half" $((gpus - 1)))" "$half" &
  wait
else
  train prior 0 1
  train baseline 0 1
fi
for mode in prior baseline; do
  tail -n 3 "$runs/$mode.out"
  python3 -m facecodec.training.export "$runs/$mode/state" --out "$runs/$mode/weights"
done
if [ -n "${OUT:-}" ]; then
  tar czf - -C "$runs" --exclude=state . | split -b 15M - "$OUT/chunk.tgz.part-"
fi
