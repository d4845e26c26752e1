#!/usr/bin/env bash
# Install (as root, from Debian) and start throwaway Redis and PostgreSQL servers on spare
# local ports for the tests, and Chromium for the review pages' browser tests; print the
# environment variables that point the tests at them.
# Usage: eval "$(scripts/services.sh)"
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >&2
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
state=$(mktemp -d /tmp/screening-services.XXXXXX)
chmod 755 "$state"
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --dir "$state" --logfile "$state/redis.log" >&2
pg_bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)")
pg_port=$(free_port)
pg_data="$state/pg"
mkdir -p "$pg_data" && chown postgres "$pg_data" "$state"
su postgres -c "$pg_bin/initdb -D $pg_data -A trust -U postgres >/dev/null" >&2
su postgres -c "$pg_bin/pg_ctl -D $pg_data -o '-p $pg_port -k $state -c listen_addresses=127.0.0.1 -c fsync=off' -l $state/pg.log -w start" >&2
su postgres -c "psql -h 127.0.0.1 -p $pg_port -U postgres -c 'CREATE DATABASE screening_test'" >&2
echo "export SCREENING_TEST_REDIS_URL=redis://127.0.0.1:$redis_port/0"
echo "export SCREENING_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:$pg_port/screening_test"
echo "export SCREENING_TEST_SERVICES_DIR=$state"
echo "export SCREENING_TEST_CHROMIUM=$(command -v chromium)"
