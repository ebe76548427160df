#!/usr/bin/env bash
# Creates .venv and installs Tsudoi's dependencies at the versions pinned in requirements.lock;
# re-runs only when pyproject.toml or requirements.lock changes (scripts/lock.sh refreshes the lock).
# Usage: scripts/setup.sh [extras]   e.g. scripts/setup.sh test
# With TSUDOI_REPLICA_URL set (off-site replication), the `replica` extra (the Litestream binary) is added.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ -n "${TSUDOI_REPLICA_URL:-}" ]; then
  case ",$extras," in
    *,replica,*) ;;
    *) extras="${extras:+$extras,}replica" ;;
  esac
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "Python 3.11 以上が必要です / Python 3.11+ is required (found: $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv .venv
    else
      echo "python3-venv が必要です: sudo apt-get install python3-venv / python3-venv is required." >&2
      exit 1
    fi
  fi
fi

stamp=".venv/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)-${extras:-base}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # The lock is a constraints file: it fixes versions; the extras decide what is installed.
  if [ -n "$extras" ]; then
    .venv/bin/python -m pip install -q -c requirements.lock ".[$extras]"
  else
    .venv/bin/python -m pip install -q -c requirements.lock .
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
