#!/usr/bin/env bash
# Time a first start on the embedded default: `screening serve` in an empty folder until /readyz answers 200,
# then `screening init`. Uses the installed `screening` (or $SCREENING_CMD) and the usual cache; prints the times.
# Usage: bash scripts/measure_first_start.sh
set -euo pipefail
screening=${SCREENING_CMD:-"$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/screening"}
unset SCREENING_DATABASE_URL
folder=$(mktemp -d)
cd "$folder"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
$screening serve --port "$port" > serve.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$folder"' EXIT
until curl -sf "http://127.0.0.1:$port/readyz" > /dev/null; do
  kill -0 $pid 2>/dev/null || { cat serve.log; exit 1; }
  sleep 0.5
done
ready=$(date +%s.%N)
$screening init > /dev/null 2>&1
done_=$(date +%s.%N)
python3 -c "print(f'serve in an empty folder -> /readyz 200: {$ready - $start:.0f} s; init: {$done_ - $ready:.1f} s')"
echo "cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
