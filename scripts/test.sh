#!/usr/bin/env bash
# Sets up the test dependencies and runs every check: lint, format, types, security lint, all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export TSUDOI_SCHEDULER=off
# Every test process imports the app and collects every test module, and the CLI and server tests start more
# Python processes: with compiled bytecode (and pytest's rewritten test modules) kept in __pycache__ (git-
# ignored), collecting takes about 7 s of CPU per process instead of 16. Some containers set
# PYTHONDONTWRITEBYTECODE, which makes every process compile everything anew.
unset PYTHONDONTWRITEBYTECODE
# The Nu HTML Checker (vnu-jar from the npm registry, run with Java) for the HTML validity gate.
vnu_jar=.cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar
if [ ! -f "$vnu_jar" ] && command -v npm >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
  npm install --silent --no-audit --no-fund --prefix .cache/vnu vnu-jar@26.9.27 >/dev/null 2>&1 || true
fi
# Lint, format, types and the security lint run in the background, at a lower priority, while pytest runs
# (pytest waits on browsers, servers and subprocesses often enough to leave them the CPU); each one's output
# is printed once it is done, and the script fails if any of them or pytest failed. mypy keeps its cache in
# .mypy_cache between runs (a CI run starts without it).
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
nice -n 10 bash -c '.venv/bin/ruff check . && .venv/bin/ruff format --check .' >"$logs/ruff" 2>&1 &
ruff_job=$!
nice -n 10 .venv/bin/mypy >"$logs/mypy" 2>&1 &
mypy_job=$!
nice -n 10 .venv/bin/bandit -q -c pyproject.toml -r app.py cli.py routes services db >"$logs/bandit" 2>&1 &
bandit_job=$!
echo "== pytest"
# More test processes than cores: many tests wait on I/O (the browser, a live server, a subprocess, SMTP),
# so an extra process keeps both cores busy. Tests are handed out one at a time (--maxschedchunk 1): with
# xdist's default chunks, the first process got the first quarter of the collection, i.e. every browser
# test, and ran them alone while the others ran the quick ones. Collection order is kept (the slow browser
# tests come first), and every test is independent of the others (tmp_path, port 0); a module- or
# package-scoped fixture (the browser, the live server, the quality crawl) is made once in each process that
# needs it. PYTEST_XDIST_AUTO_NUM_WORKERS overrides the number of processes.
export PYTEST_XDIST_AUTO_NUM_WORKERS="${PYTEST_XDIST_AUTO_NUM_WORKERS:-$(($(nproc) + 1))}"
failed=0
.venv/bin/pytest -n auto --maxschedchunk 1 "$@" || failed=1
for check in ruff mypy bandit; do
  job_var="${check}_job"
  echo "== $check"
  if ! wait "${!job_var}"; then
    failed=1
  fi
  cat "$logs/$check"
done
if [ "$failed" -ne 0 ]; then
  echo "== FAILED (see above)" >&2
fi
exit "$failed"
