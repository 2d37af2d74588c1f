#!/usr/bin/env bash
# One training chunk on the GPU machine, in one device call (docs/training.md): unpack the
# data pieces carried so far, resume the training state, train MINUTES, save the state,
# validate (the training's own held-out pairs, then whole held-out clips through the codec if
# .gpu/validation exists), and put the state and the results into $OUT.
#   bash training/run_chunk.sh MINUTES [BATCH]
# Environment: EXTRA (more train.py flags, e.g. "--init-weights receiver/weights
# --warmup-steps 500" for the first chunk of a new state), COMPILE (a torch.compile mode,
# default "default"; empty for eager), BASELINE=1 (train the face-vid2vid baseline too, its
# state kept on this machine only), SMALL=1 (train the small CPU model at the same time on the
# same GPUs, SMALL_BATCH pairs a step, SMALL_EXTRA more flags, e.g. "--init-weights
# receiver/weights" in its first chunk; its state is kept on this machine only, its exported
# weights come back in chunk.tgz), RUNS (default /tmp/facecodec-runs).
set -euo pipefail
minutes=${1:-8}
batch=${2:-64}
SMALL_BATCH=${SMALL_BATCH:-$batch}
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
STATE_COPY=/tmp/facecodec-state-prior
if [ -f "$STATE_COPY/state.json" ] && ! cmp -s "$STATE_COPY/state.json" training/state/prior/state.json; then
  # This machine trained further than the tree it was sent (the state came back but was not
  # yet committed when this call left): resume the machine's own.
  mkdir -p training/state && rm -rf training/state/prior && cp -r "$STATE_COPY" training/state/prior
fi
if [ "${SMALL:-0}" = 1 ]; then  # the small CPU model beside the prior one, on the same GPUs
  EXTRA="--model SMALL --batch-size $SMALL_BATCH ${SMALL_EXTRA:-}" \
    train small "$runs/small/state" "$(seq -s, 0 $((gpus - 1)))" "$gpus" &
fi
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
wait
tail -n 3 "$runs"/*.out
# The state goes back first and is kept outside the tree too: a later call of the session
# resumes it even if that call's tree holds an older one, and nothing after can lose it.
rm -rf "$STATE_COPY" && cp -r training/state/prior "$STATE_COPY"
[ -n "${OUT:-}" ] && cp training/state/prior/state* "$OUT/"
python3 -m facecodec.training.export training/state/prior --out "$runs/prior/weights"
if [ -d "$data/validation" ]; then
  python3 -m facecodec.training.validation_render "$data/validation" \
    --weights "$runs/prior/weights" --out "$runs/validation" || echo "validation render failed"
fi
if [ "${SMALL:-0}" = 1 ]; then
  python3 -m facecodec.training.export "$runs/small/state" --out "$runs/small/weights"
fi
if [ "${BASELINE:-0}" = 1 ]; then
  python3 -m facecodec.training.export "$runs/baseline/state" --out "$runs/baseline/weights"
fi
if [ -n "${OUT:-}" ]; then
  cp "$runs"/validation/*.npz "$OUT/" 2>/dev/null || true
  tar czf "$OUT/chunk.tgz" -C "$runs" --exclude=state --exclude=validation --exclude=prior/weights .
  ls -l "$OUT"
fi
