#!/bin/sh
# Start one role of the shop: backend (migrate, then gunicorn), celery (worker) or beat.
# The role comes from the first argument or SERVICE_ROLE. Works inside and outside Docker.
set -eu

role="${1:-${SERVICE_ROLE:-backend}}"
[ "$#" -gt 0 ] && shift
PYTHON="${PYTHON:-python}"

case "$role" in
  backend)
    # Migrations take a database lock, so several backends may start at once.
    FLASK_APP=run.py "$PYTHON" -m flask db upgrade
    exec "$PYTHON" -m gunicorn --config gunicorn.conf.py "$@"
    ;;
  celery|worker)
    exec "$PYTHON" -m celery -A celery_worker.celery worker \
      --concurrency "${CELERY_WORKER_CONCURRENCY:-2}" --loglevel "${LOG_LEVEL:-INFO}" "$@"
    ;;
  beat)
    exec "$PYTHON" -m celery -A celery_worker.celery beat \
      --scheduler redbeat.RedBeatScheduler --loglevel "${LOG_LEVEL:-INFO}" "$@"
    ;;
  *)
    echo "entrypoint.sh: unknown role '$role' (expected backend, celery or beat)" >&2
    exit 64
    ;;
esac
