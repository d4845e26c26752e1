#!/bin/sh
# The container's entrypoint: one role per container of the stack (compose.yaml), settings from SCREENING_*.
#
#   serve         the HTTP API (the default); on the embedded default (SQLite) it creates and migrates the
#                 database first, on PostgreSQL it refuses until `migrate` has run
#   worker        the asynchronous job workers (`screening worker`)
#   migrate       bring the database to the newest schema, then exit (the stack's one-shot service)
#   init          create the first hr_admin key unless a live one exists, and print its token once
#   healthcheck   exit 0 when this container's /readyz answers 200 (the image's HEALTHCHECK)
#   screening ... any other `screening` command, e.g. `screening keys list`
#
# Extra arguments go to the command: `serve --workers 4`, `init --org acme`.
set -eu

role="${1:-serve}"
if [ "$#" -gt 0 ]; then
  shift
fi

case "$role" in
  serve) exec screening serve "$@" ;;
  worker) exec screening worker "$@" ;;
  migrate) exec screening db migrate "$@" ;;
  init) exec screening init "$@" ;;
  healthcheck)
    exec python -c 'import os, sys, urllib.request
url = "http://127.0.0.1:%s/readyz" % os.environ.get("SCREENING_PORT", "8000")
try:
    sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)
except Exception as exc:
    print("not ready: %s" % exc, file=sys.stderr)
    sys.exit(1)'
    ;;
  screening) exec screening "$@" ;;
  *)
    echo "unknown role '$role': use serve, worker, migrate, init, healthcheck or screening <command>" >&2
    exit 64
    ;;
esac
