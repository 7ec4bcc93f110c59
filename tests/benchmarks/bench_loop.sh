#!/bin/bash
# The app's loop through the CLI (a plain script, not collected by pytest): the reviewed images grow
# (KS, e.g. "1 2 5 10"), `segdesk train` after each (the default 2-minute cap; the plan's minimum
# steps decide on a slow machine), `segdesk predict --masks-out` on the test images, which never train;
# prints the test mIoU of the two classes after each Retrain (binary truth: mask > 0).
#   MODE: chain (each Retrain fine-tunes the current model, as the app does) or fresh (--from-scratch)
#   DATA: a folder with images/ and masks/ of the same names (e.g. shared/data/dsb2018_nuclei_dev)
#   LABELS: import-masks' --labels, e.g. 0=_background_,255=nucleus
#   TRAIN / TEST: image file names, in the order they are reviewed / to score
#   SEGDESK: the command (default .venv/bin/segdesk; e.g. "python -m segdesk" of another checkout)
# usage: tests/benchmarks/bench_loop.sh MODE OUT DATA LABELS "TRAIN..." "TEST..." "KS" [train options]
# DSB dev as in docs/benchmarks.md ("The app's loop, retrain after retrain"):
#   D=../shared/data/dsb2018_nuclei_dev; N=$(ls $D/images | sort)
#   tests/benchmarks/bench_loop.sh chain /tmp/loop $D 0=_background_,255=nucleus \
#       "$(echo "$N" | head -10)" "$(echo "$N" | tail -30)" "1 2 5 10" --threads 1
set -e
mode=$1; out=$2; data=$3; labels=$4; train="$5"; test="$6"; ks="$7"; shift 7
SEGDESK=${SEGDESK:-.venv/bin/segdesk}
rm -rf "$out"; mkdir -p "$out/images"
for f in $train $test; do cp "$data/images/$f" "$out/images/"; done
for k in $ks; do
  rm -rf "$out/m$k"; mkdir -p "$out/m$k"
  for f in $(echo $train | tr ' ' '\n' | head -n "$k"); do cp "$data/masks/$f" "$out/m$k/"; done
  $SEGDESK import-masks "$out/images" "$out/m$k" --labels "$labels" --skip-unmasked --overwrite > /dev/null
  scratch=""; [ "$mode" = fresh ] && scratch=--from-scratch
  $SEGDESK train "$out/images" $scratch "$@" > "$out/train$k.log" 2>&1
  grep -E "^starting|^done|^saved|stays current" "$out/train$k.log" | sed "s/^/[$mode $k] /"
  rm -rf "$out/p$k"
  if ! $SEGDESK predict "$out/images" --masks-out "$out/p$k" > "$out/predict$k.log" 2>&1; then
    echo "[$mode $k] no proposals: $(tail -n 1 "$out/predict$k.log")"; continue
  fi
  .venv/bin/python - "$out/p$k" "$data" "$test" <<'PY'
import sys
from pathlib import Path

import cv2
import numpy as np

pred, data, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split()
cm = np.zeros((2, 2))
for n in names:
    truth = (cv2.imread(str(data / "masks" / n), cv2.IMREAD_GRAYSCALE) > 0).astype(int)
    guess = (cv2.imread(str(pred / n), cv2.IMREAD_UNCHANGED) > 0).astype(int)
    cm += np.bincount(truth.ravel() * 2 + guess.ravel(), minlength=4).reshape(2, 2)
iou = np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))
print(f"[{pred.name}] test mIoU {iou.mean():.4f} (IoU {iou[0]:.4f} / {iou[1]:.4f})", flush=True)
PY
done
