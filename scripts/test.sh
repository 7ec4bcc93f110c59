#!/usr/bin/env bash
# Set up (if needed) and run every check: lint, format, layer contracts, tests. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${SEGDESK_VENV:-.venv}
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
export NO_ALBUMENTATIONS_UPDATE=1
echo "== ruff"
"$VENV/bin/ruff" check segdesk tests resources packaging
"$VENV/bin/ruff" format --check segdesk tests resources packaging
echo "== import-linter"
"$VENV/bin/lint-imports"
echo "== pytest"
"$VENV/bin/python" -m pytest "$@"
