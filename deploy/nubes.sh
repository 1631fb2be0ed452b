#!/bin/sh
# The one way each Nubes process is started, in production (deploy/*.service) and on the lab's
# fleet (lab/fleet-up.sh): configuration comes from the environment only (see .env.example).
#   deploy/nubes.sh migrate   apply database migrations (once per release, before web)
#   deploy/nubes.sh web       uvicorn, NUBES_WEB_WORKERS processes on NUBES_BIND:NUBES_PORT, each with a
#                             pool of NUBES_DB_POOL (20 unless set; 0 turns it off, and so does a
#                             DB_CONN_MAX_AGE) PostgreSQL connections (nothing on SQLite); an idle keep-alive
#                             connection is kept NUBES_KEEP_ALIVE_S (65) s, past a proxy's usual 60 s: with
#                             uvicorn's 5 s a request sent about 5 s after the last on its connection
#                             raced the close and was lost (5 of 40 sent 4.96-5.04 s after; 0 with 65 s);
#                             garbage-collector thresholds NUBES_GC_THRESHOLDS (50000,20,100 unless set;
#                             700,10,10: Python's own): rarer full collections, the websocket tail's stalls
#   deploy/nubes.sh worker    a Celery worker named NUBES_WORKER_NAME@<host> (any number of machines), on
#                             every queue or those in NUBES_WORKER_QUEUES (comma-separated)
#   deploy/nubes.sh beat      Celery beat (exactly one in the whole fleet)
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${NUBES_VENV:-$ROOT/.venv}/bin"
cd "$ROOT"
role="${1:-}"
[ $# -gt 0 ] && shift
case "$role" in
  migrate) exec "$BIN/python" manage.py migrate --noinput "$@" ;;
  web) [ "${DB_CONN_MAX_AGE:-0}" != 0 ] || export NUBES_DB_POOL="${NUBES_DB_POOL:-20}"
       export NUBES_GC_THRESHOLDS="${NUBES_GC_THRESHOLDS:-50000,20,100}"
       exec "$BIN/uvicorn" portal.asgi:application --host "${NUBES_BIND:-127.0.0.1}" \
         --port "${NUBES_PORT:-8000}" --workers "${NUBES_WEB_WORKERS:-2}" \
         --forwarded-allow-ips "${NUBES_TRUSTED_PROXIES:-}" \
         --timeout-keep-alive "${NUBES_KEEP_ALIVE_S:-65}" "$@" ;;
  worker) exec "$BIN/celery" -A portal worker --loglevel "${LOG_LEVEL:-INFO}" \
         --hostname "${NUBES_WORKER_NAME:-nubes}@%h" ${NUBES_WORKER_QUEUES:+-Q "$NUBES_WORKER_QUEUES"} "$@" ;;
  beat) exec "$BIN/celery" -A portal beat --loglevel "${LOG_LEVEL:-INFO}" "$@" ;;
  *) echo "usage: $0 migrate|web|worker|beat [extra arguments]" >&2; exit 2 ;;
esac
