#!/usr/bin/env bash
# Set up (if needed) and start segdesk. No argument: the last folder, or the bundled demo project.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${SEGDESK_VENV:-.venv}/bin/segdesk" "$@"
