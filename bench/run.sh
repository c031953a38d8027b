#!/usr/bin/env bash
# Side-by-side session: our benches interleaved with the peers' matterport and torchvision
# benches (torchvision, ours, matterport, ...), then the rest of ours.
#
#   bash bench/run.sh                       # -> bench/results/<UTC date>.jsonl (appended)
#   OUT=/tmp/x.jsonl MP_RUNS=7 bash bench/run.sh
#   NO_PEERS=1 bash bench/run.sh            # ours only (= bench_mrcnn.py --all)
#   TRAIN_PASSES=2 SKIP_REST=1 bash bench/run.sh   # the train-step triples twice, no extras
#
# Needs the peers' matterport venv ($HOME/.cache/mrcnn-peers/bench-matterport; created by
# `cd shared/peers && SETUP_ONLY=1 ONLY=matterport bash run_all.sh`). The matterport
# bench runs with cwd = shared/peers so that `import mrcnn` is matterport's, not ours.
# The torchvision train benches run when $HOME/.cache/mrcnn-peers/bench-torchvision exists
# (`SETUP_ONLY=1 ONLY=torchvision bash run_all.sh` in shared/peers).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
PEERS="${PEERS:-$REPO/../shared/peers}"
[ -d "$PEERS" ] || PEERS=/work/shared/peers
MPPY="${MPPY:-$HOME/.cache/mrcnn-peers/bench-matterport/bin/python}"
TVPY="${TVPY:-$HOME/.cache/mrcnn-peers/bench-torchvision/bin/python}"
OUT="${OUT:-$HERE/results/$(date -u +%Y%m%d).jsonl}"
LOGS="$HERE/results/logs"
PY="${PYTHON:-python3}"
mkdir -p "$LOGS" "$(dirname "$OUT")"
SESSION="$(date -u +%Y%m%dT%H%M%SZ)"
export BENCH_SESSION="$SESSION"
say() { echo "[bench/run.sh] $*" >&2; }

ours() {  # ours BENCH...
  "$PY" "$HERE/bench_mrcnn.py" --only "$(IFS=,; echo "$*")" --log-dir "$LOGS" \
    | sed "s/^{/{\"session\": \"$SESSION\", /" | tee -a "$OUT"
}
mp() {  # mp NAME ARGS...
  local name="$1"; shift
  say "matterport: $name"
  if ! (cd "$PEERS" && "$MPPY" bench_matterport.py "$@" 2>"$LOGS/mp-$name.err") \
      | grep '^{' | sed "s/^{/{\"session\": \"$SESSION\", \"bench\": \"mp-$name\", /" | tee -a "$OUT"; then
    echo "{\"session\": \"$SESSION\", \"bench\": \"mp-$name\", \"error\": \"see $LOGS/mp-$name.err\"}" | tee -a "$OUT"
  fi
}

tv() {  # tv NAME ARGS...   (skipped when the torchvision venv is absent)
  local name="$1"; shift
  [ -x "$TVPY" ] || { say "no torchvision venv at $TVPY: tv-$name skipped"; return 0; }
  say "torchvision: $name"
  if ! (cd "$PEERS" && "$TVPY" bench_torchvision.py "$@" 2>"$LOGS/tv-$name.err") \
      | grep '^{' | sed "s/^{/{\"session\": \"$SESSION\", \"bench\": \"tv-$name\", /" | tee -a "$OUT"; then
    echo "{\"session\": \"$SESSION\", \"bench\": \"tv-$name\", \"error\": \"see $LOGS/tv-$name.err\"}" | tee -a "$OUT"
  fi
}

say "session $SESSION -> $OUT"
if [ -n "${NO_PEERS:-}" ] || [ ! -x "$MPPY" ]; then
  [ -x "$MPPY" ] || say "no matterport venv at $MPPY: ours only"
  ours matmul detect-r50 detect-r101 train-heads train-all pipeline-shapes256 pipeline-coco1024 profile-detect-r50
  exit 0
fi
MP_WARMUP="${MP_WARMUP:-3}"; MP_RUNS="${MP_RUNS:-7}"
ours matmul
ours detect-r50
mp infer-r50 --mode infer --backbone resnet50 --warmup "$MP_WARMUP" --runs "$MP_RUNS"
for pass in $(seq "${TRAIN_PASSES:-1}"); do
  for layers in heads all; do
    tv "train-$layers" --mode train --size 256 --layers "$layers"
    ours "train-$layers"
    mp "train-$layers" --mode train --backbone resnet50 --layers "$layers" --warmup "$MP_WARMUP" --runs "$MP_RUNS"
  done
done
[ -n "${SKIP_REST:-}" ] && exit 0
ours pipeline-shapes256 pipeline-coco1024 profile-detect-r50 detect-r101
