#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite:
# the venv, real Redis and PostgreSQL servers (Debian packages), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 SCREENING_CACHE_DIR="${SCREENING_CACHE_DIR:-$PWD/.cache}"
[ -x .venv/bin/screening ] || bash scripts/setup.sh
eval "$(bash scripts/services.sh)"
stop_services() {
  redis-cli -u "$SCREENING_TEST_REDIS_URL" shutdown nosave >/dev/null 2>&1 || true
  su postgres -c "$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n1)")/pg_ctl -D $SCREENING_TEST_SERVICES_DIR/pg -m fast stop" >/dev/null 2>&1 || true
}
trap stop_services EXIT
.venv/bin/python -m pytest "$@"
