#!/usr/bin/env bash
# One training chunk on the GPU machine, in one device call (docs/training.md): unpack the
# data pieces carried so far, resume the training state, train MINUTES, save the state,
# validate (the training's own held-out pairs, then whole held-out clips through the codec if
# .gpu/validation exists), and put the state and the results into $OUT.
#   bash training/run_chunk.sh MINUTES [BATCH]
# Environment: EXTRA (more train.py flags, e.g. "--init-weights receiver/weights
# --warmup-steps 500" for the first chunk of a new state), COMPILE (a torch.compile mode,
# default "default"; empty for eager), BASELINE=1 (train the face-vid2vid baseline too, its
# state kept on this machine only), RUNS (default /tmp/facecodec-runs).
set -euo pipefail
minutes=${1:-8}
batch=${2:-64}
data=.gpu
runs=${RUNS:-/tmp/facecodec-runs}
source training/gpu_env.sh
# The training's output goes to files; a failure shows their ends in the call's output.
trap 'tail -n 40 "$runs"/*.out 2>/dev/null' ERR
python3 -m facecodec.training.gpu_data unpack
gpus=$(nvidia-smi -L | wc -l)
train() {  # mode, state folder, devices, process count
  CUDA_VISIBLE_DEVICES=$3 torchrun --standalone --nproc-per-node "$4" -m facecodec.training.train \
    --mode "$1" --data-dir "$data" --params "$data/prior_params.npz" \
    --vgg "$data/vgg16.safetensors" --run-dir "$runs/$1" --state-dir "$2" \
    --minutes "$minutes" --batch-size "$batch" --compile "${COMPILE-default}" ${EXTRA:-} \
    > "$runs/$1.out" 2>&1
}
mkdir -p "$runs"
if [ "${BASELINE:-0}" = 1 ] && [ "$gpus" -ge 2 ]; then
  half=$((gpus / 2))
  train prior training/state/prior "$(seq -s, 0 $((half - 1)))" "$half" &
  train baseline "$runs/baseline/state" "$(seq -s, "$half" $((gpus - 1)))" "$half" &
  wait
else
  train prior training/state/prior "$(seq -s, 0 $((gpus - 1)))" "$gpus"
  if [ "${BASELINE:-0}" = 1 ]; then
    train baseline "$runs/baseline/state" "$(seq -s, 0 $((gpus - 1)))" "$gpus"
  fi
fi
tail -n 3 "$runs"/*.out
python3 -m facecodec.training.export training/state/prior --out "$runs/prior/weights"
if [ -d "$data/validation" ]; then
  python3 -m facecodec.training.validation_render "$data/validation" \
    --weights "$runs/prior/weights" --out "$runs/validation"
fi
if [ "${BASELINE:-0}" = 1 ]; then
  python3 -m facecodec.training.export "$runs/baseline/state" --out "$runs/baseline/weights"
fi
if [ -n "${OUT:-}" ]; then
  cp training/state/prior/state* "$OUT/"
  cp "$runs"/validation/*.npz "$OUT/" 2>/dev/null || true
  tar czf "$OUT/chunk.tgz" -C "$runs" --exclude=state --exclude=validation --exclude=prior/weights .
  ls -l "$OUT"
fi
