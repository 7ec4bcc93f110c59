#!/usr/bin/env bash
# Build the segdesk desktop app with PyInstaller: one folder, DIST/segdesk/segdesk[.exe].
#
#   packaging/build.sh [--dist DIR] [--work DIR] [--python PY] [--no-onnx-export] [--windowed]
#                      [--no-self-test] [--clean]
#
#   --dist DIR      where the app folder goes (default: dist; the app is DIR/segdesk/)
#   --work DIR      PyInstaller's scratch folder (default: build/pyinstaller)
#   --python PY     the Python whose packages are bundled (default: the checkout's .venv, else python3);
#                   it needs segdesk's dependencies and pyinstaller (pip install -e ".[build]")
#   --no-onnx-export  leave onnxscript out (~5 MB): no ONNX export in the app, CPU prediction with torch
#   --windowed      no console window (Windows / macOS releases)
#   --no-self-test  skip running the built app's --self-test
#   --clean         empty PyInstaller's cache and scratch folder first
#
# The app bundles the torch installed in that Python: install a CUDA build of torch there first to
# get a CUDA app. Prints the build time and the folder size, then runs `segdesk --self-test`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
dist="$root/dist"
work="$root/build/pyinstaller"
python=""
self_test=1
clean=()
export SEGDESK_ONNX_EXPORT=1 SEGDESK_WINDOWED=0

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --dist) dist="$2"; shift 2 ;;
        --work) work="$2"; shift 2 ;;
        --python) python="$2"; shift 2 ;;
        --no-onnx-export) SEGDESK_ONNX_EXPORT=0; shift ;;
        --windowed) SEGDESK_WINDOWED=1; shift ;;
        --no-self-test) self_test=0; shift ;;
        --clean) clean=(--clean); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [[ -z "$python" ]]; then
    for candidate in "$root/.venv/bin/python" "$root/.venv/Scripts/python.exe" python3 python; do
        if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
    done
fi
if ! "$python" -c "import PyInstaller" 2>/dev/null; then
    echo "build.sh: PyInstaller is not installed for $python; run: $python -m pip install -e \"$root[build]\"" >&2
    exit 2
fi

torch_info="$("$python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda or "none")')"
echo "build.sh: bundling $("$python" --version) with torch $torch_info into $dist/segdesk"

mkdir -p "$dist" "$work"
dist="$(cd "$dist" && pwd)"
work="$(cd "$work" && pwd)"
start=$(date +%s)
# NO_ALBUMENTATIONS_UPDATE: the analysis imports albumentations, which would otherwise look for updates.
# PYTHONWARNINGS: torch's hook imports every torch module, and many announce their deprecation.
NO_ALBUMENTATIONS_UPDATE=1 PYTHONWARNINGS=ignore "$python" -m PyInstaller --noconfirm --log-level WARN "${clean[@]}" \
    --distpath "$dist" --workpath "$work" "$here/segdesk.spec"
seconds=$(( $(date +%s) - start ))

app="$dist/segdesk/segdesk"
[[ -x "$app" || -x "$app.exe" ]] || { echo "build.sh: no app at $app" >&2; exit 1; }
size="$(du -sh "$dist/segdesk" | cut -f1)"
echo "build.sh: built $dist/segdesk in ${seconds} s, ${size}"

if [[ $self_test -eq 1 ]]; then
    [[ -x "$app" ]] || app="$app.exe"
    QT_QPA_PLATFORM=offscreen "$app" --self-test
fi
