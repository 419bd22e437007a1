#!/bin/sh
# Start one role of the shop: backend (migrate, then gunicorn), celery (worker) or beat.
# The role comes from the first argument or SERVICE_ROLE. Works inside and outside Docker.
set -eu

role="${1:-${SERVICE_ROLE:-backend}}"
[ "$#" -gt 0 ] && shift
PYTHON="${PYTHON:-python}"

# gunicorn and prefork Celery run several processes; Prometheus metrics add up their counts
# through files in this folder (a fresh one unless the operator chose one).
metrics_folder() {
  if [ -z "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    PROMETHEUS_MULTIPROC_DIR="$(mktemp -d "${TMPDIR:-/tmp}/shop-metrics.XXXXXX")"
  fi
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  export PROMETHEUS_MULTIPROC_DIR
}

case "$role" in
  backend)
    # Migrations take a database lock, so several backends may start at once. The lock is
    # held by one session, so behind a pooler in transaction mode they need a direct
    # connection: MIGRATION_DATABASE_URL (defaults to DATABASE_URL).
    DATABASE_URL="${MIGRATION_DATABASE_URL:-${DATABASE_URL:-}}" FLASK_APP=run.py \
      "$PYTHON" -m flask db upgrade
    metrics_folder
    exec "$PYTHON" -m gunicorn --config gunicorn.conf.py "$@"
    ;;
  celery|worker)
    metrics_folder
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
