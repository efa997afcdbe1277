#!/usr/bin/env bash
# Install lego-prover into ./.venv (CPU torch first, so pip never pulls a multi-GB CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q "torch==2.13.0" || python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
python -m pip install -q -e ".[dev,ray]"   # ray: so the cluster tests run too
echo "installed: $(lego-prover --help >/dev/null && echo lego-prover) in .venv (activate with '. .venv/bin/activate')"
