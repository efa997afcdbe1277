#!/usr/bin/env bash
# Install lego-prover into ./.venv with the CPU build of torch.
#
#   bash scripts/install.sh            what lego-prover needs to run (the main job)
#   bash scripts/install.sh dev,ray    ... and extras too (scripts/test.sh: test tools and Ray)
#
# torch comes first, from PyTorch's CPU index: PyPI's Linux wheel bundles CUDA (a ~6.5 GB
# venv) and nothing in lego-prover needs a GPU. Where that index cannot be reached, the try
# fails within seconds, says so in one line, and torch comes from the default index instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${1:-}
TORCH="torch==2.13.0"
CPU_INDEX=https://download.pytorch.org/whl/cpu
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
if python -m pip install -q --timeout 10 --retries 0 --index-url "$CPU_INDEX" "$TORCH" 2>.venv/torch-cpu-index.log; then
    rm -f .venv/torch-cpu-index.log
else
    echo "install: PyTorch's CPU index ($CPU_INDEX) could not be used (see .venv/torch-cpu-index.log);" \
         "taking $TORCH from the default index (on Linux, PyPI's is the CUDA build)" >&2
    python -m pip install -q "$TORCH"
fi
python -m pip install -q -e ".${EXTRAS:+[$EXTRAS]}"
echo "installed: $(lego-prover --help >/dev/null && echo lego-prover)${EXTRAS:+ with $EXTRAS} in .venv (activate with '. .venv/bin/activate')"
