#!/bin/sh
# Container entrypoint for every portal image: boot.sh ROLE
#
#   migrate           wait for the database, run `alembic upgrade head`, exit (one-shot job)
#   await-migrations  wait until the database is at the alembic head, exit (k8s initContainer)
#   api               wait for the database, exec gunicorn (never for the broker: an API writes to its outbox and
#                     serves while RabbitMQ is down; the worker's relay publishes later)
#   worker            wait for broker + database, exec `python -m <service>.entrypoints.worker`
#
# PORTAL_SERVICE names the service (identity, policies, documents, notify, gateway); the image sets it.
# Migrations never run from `api`: with `--scale` or several replicas, concurrent `alembic upgrade` races.
# Compose runs a `<svc>-migrate` service first, kubernetes a Job. Pattern: nameko-examples run.sh, microblog boot.sh.
#
# Settings: PORTAL_AMQP_URL, PORTAL_<SERVICE>_DATABASE_URL, PORTAL_HTTP_PORT (8000),
# PORTAL_WAIT_TIMEOUT (seconds per dependency, 60), PORTAL_BOOT_DRY_RUN=1 prints the final command instead of
# running it (used by tests/deploy).
set -eu

PYTHON="${PYTHON:-python}"
role="${1:-${PORTAL_ROLE:-}}"
service="${PORTAL_SERVICE:-}"
timeout="${PORTAL_WAIT_TIMEOUT:-60}"

say() { echo "boot[$service/$role]: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

usage() {
    echo "usage: PORTAL_SERVICE=<name> boot.sh {migrate|await-migrations|api|worker}" >&2
    exit 64
}

[ -n "$role" ] || usage
[ -n "$service" ] || die "PORTAL_SERVICE is not set"
case "$service" in
    *[!a-z_]*) die "PORTAL_SERVICE must be a lower-case package name, got '$service'" ;;
esac

# wait_for LABEL URL DEFAULT_PORT: bounded TCP wait on the host:port of URL (credentials never printed).
wait_for() {
    "$PYTHON" - "$1" "$2" "$3" "$timeout" <<'PY' || exit 1
import socket, sys, time
from urllib.parse import urlsplit

label, url, default_port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
try:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or default_port
except ValueError as exc:
    sys.exit(f"boot: ERROR: cannot parse the {label} URL: {exc}")
if not host:
    sys.exit(f"boot: ERROR: the {label} URL has no host")
deadline = time.monotonic() + timeout
while True:
    try:
        socket.create_connection((host, port), timeout=3).close()
        print(f"boot: {label} is reachable at {host}:{port}", file=sys.stderr)
        break
    except OSError as exc:
        if time.monotonic() >= deadline:
            sys.exit(f"boot: ERROR: {label} at {host}:{port} not reachable after {timeout:g}s ({exc})")
        time.sleep(1)
PY
}

database_url() {
    upper="$(printf '%s' "$service" | tr '[:lower:]' '[:upper:]')"
    eval "printf '%s' \"\${PORTAL_${upper}_DATABASE_URL:-}\""
}

# Only workers wait for the broker (they consume, and their outbox relay publishes). An API never waits for it: it
# writes events to its outbox in the database, so it starts and serves while RabbitMQ is down (issue 7).
wait_for_broker() {
    [ -n "${PORTAL_AMQP_URL:-}" ] || die "PORTAL_AMQP_URL is not set"
    wait_for broker "$PORTAL_AMQP_URL" 5672
}

# Services without a database (the gateway) skip this; a service that has one must be given its URL.
wait_for_database() {
    url="$(database_url)"
    if [ -z "$url" ]; then
        [ -f "services/$service/alembic.ini" ] && die "PORTAL_$(printf '%s' "$service" | tr '[:lower:]' '[:upper:]')_DATABASE_URL is not set"
        return 0
    fi
    wait_for database "$url" 5432
}

run() {
    if [ -n "${PORTAL_BOOT_DRY_RUN:-}" ]; then
        echo "$*"
        exit 0
    fi
    exec "$@"
}

alembic_ini="services/$service/alembic.ini"

case "$role" in
    migrate)
        wait_for_database
        say "alembic upgrade head"
        run alembic -c "$alembic_ini" upgrade head
        ;;
    await-migrations)
        wait_for_database
        [ -n "${PORTAL_BOOT_DRY_RUN:-}" ] && run alembic -c "$alembic_ini" current
        deadline=$(( $(date +%s) + timeout ))
        until alembic -c "$alembic_ini" current 2>/dev/null | grep -q '(head)'; do
            [ "$(date +%s)" -lt "$deadline" ] || die "database not at the alembic head after ${timeout}s; did the migrate job run?"
            sleep 2
        done
        say "database is at the alembic head"
        ;;
    api)
        wait_for_database
        # prometheus_client multiprocess mode needs an empty directory per container start.
        if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
            rm -rf "$PROMETHEUS_MULTIPROC_DIR"
            mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        fi
        if [ "$service" = gateway ]; then
            conf=gateway/gunicorn.conf.py app="gateway.app:create_app()"
        else
            conf="services/$service/gunicorn.conf.py" app="$service.entrypoints.api:create_app()"
        fi
        run gunicorn -c "$conf" --bind "0.0.0.0:${PORTAL_HTTP_PORT:-8000}" "$app"
        ;;
    worker)
        [ "$service" != gateway ] || die "the gateway has no worker"
        wait_for_broker
        wait_for_database
        if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
            rm -rf "$PROMETHEUS_MULTIPROC_DIR"
            mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        fi
        run "$PYTHON" -m "$service.entrypoints.worker"
        ;;
    *)
        usage
        ;;
esac
