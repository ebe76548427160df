#!/usr/bin/env bash
# Sets up everything, loads the demo data and serves Tsudoi on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TSUDOI_DATABASE="${TSUDOI_DATABASE:-data/tsudoi.sqlite3}"
.venv/bin/litestar tsudoi demo
host="${TSUDOI_HOST:-127.0.0.1}"
port="${TSUDOI_PORT:-8000}"
echo "http://$host:$port で起動します / serving on http://$host:$port (Ctrl+C で停止)"
exec .venv/bin/litestar run --host "$host" --port "$port"
