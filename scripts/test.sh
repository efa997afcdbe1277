#!/usr/bin/env bash
# Install, then lint, type-check and run the tests. Real-Isabelle and local-LLM tests run
# when those are installed and are skipped with the reason otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh dev,ray   # the test tools, and Ray for the cluster tests
. .venv/bin/activate
export ANONYMIZED_TELEMETRY=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ruff check lego_prover tests benchmarks
mypy
pytest -q -rs
