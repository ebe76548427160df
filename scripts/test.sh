#!/usr/bin/env bash
# Sets up the test dependencies and runs every check: lint, format, types, security lint, all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export TSUDOI_SCHEDULER=off
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== bandit"
.venv/bin/bandit -q -c pyproject.toml -r app.py routes services db
echo "== pytest"
.venv/bin/pytest "$@"
