#!/usr/bin/env bash
# Sets up the test dependencies and runs every check: lint, format, types, security lint, all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export TSUDOI_SCHEDULER=off
# The Nu HTML Checker (vnu-jar from the npm registry, run with Java) for the HTML validity gate.
vnu_jar=.cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar
if [ ! -f "$vnu_jar" ] && command -v npm >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
  npm install --silent --no-audit --no-fund --prefix .cache/vnu vnu-jar@26.9.27 >/dev/null 2>&1 || true
fi
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== bandit"
.venv/bin/bandit -q -c pyproject.toml -r app.py cli.py routes services db
echo "== pytest"
# Two (or more) test processes: every test is independent of the others (tmp_path, port 0); the tests of
# one module stay in one process, so a module-scoped fixture (the quality crawl) runs once.
.venv/bin/pytest -n auto --dist loadscope "$@"
