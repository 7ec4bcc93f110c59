#!/usr/bin/env bash
# Create .venv (once) and install segdesk with its test tools. Safe to run again: it reinstalls only when
# pyproject.toml or constraints-cpu.txt changed. On a CPU machine torch is pinned to the CPU wheel by
# constraints-cpu.txt; set SEGDESK_TORCH=cuda to let pip pick torch from your own (CUDA) index instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=${SEGDESK_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "segdesk setup: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.segdesk-installed"
want=$(cat pyproject.toml constraints-cpu.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "segdesk setup: installing packages (first time: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  cons=(-c constraints-cpu.txt)
  [ "${SEGDESK_TORCH:-cpu}" = "cuda" ] && cons=()
  "$VENV/bin/python" -m pip install -q "${cons[@]}" -e ".[test]"
  echo "$want" > "$stamp"
fi
