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
# One test process per core (pytest-xdist): every test is independent of the others (tmp_path, port 0),
# so tests are handed out one by one and no long module holds a process alone; a module- or package-scoped
# fixture (the browser, the quality crawl) is made once in each process that needs it.
.venv/bin/pytest -n auto "$@"
