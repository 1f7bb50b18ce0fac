#!/usr/bin/env bash
# Every GPU figure in one command, within 8 minutes (issue 28); see bench/gpu.py.
#   bash bench/gpu.sh [--out gpu-results.md] [--budget 480]
# On a machine without CUDA it prints one line saying so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
# PYTHON: the interpreter embedreg is installed in (default: python, else python3 on the PATH)
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
exec "$PYTHON" bench/gpu.py "$@"
