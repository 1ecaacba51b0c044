#!/bin/sh
# Wraps the rabbitmq image's docker-entrypoint.sh: renders the `portal` user from the environment, copies the
# topology definitions next to it, then hands over. A definitions file cannot read environment variables, and a
# node that imports definitions on boot creates no default user, so the user has to be rendered here.
# See deploy/rabbitmq/README.md.
set -eu

user="${PORTAL_RABBITMQ_USER:-portal}"
password="${PORTAL_RABBITMQ_PASSWORD:?PORTAL_RABBITMQ_PASSWORD is not set}"
src="${PORTAL_RABBITMQ_DEFINITIONS:-/etc/rabbitmq/portal/definitions.json}"
# Must match definitions.local.path in rabbitmq.conf (overridable only for tests/deploy).
dir="${PORTAL_RABBITMQ_DEFINITIONS_DIR:-/etc/rabbitmq/definitions.d}"

[ -r "$src" ] || { echo "rabbitmq-entrypoint: definitions file $src is missing or unreadable" >&2; exit 1; }

# JSON-escape backslashes and double quotes (the only characters that could break the string literal).
json_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

mkdir -p "$dir"
umask 077
cat >"$dir/10-users.json" <<JSON
{
  "vhosts": [{"name": "/"}],
  "users": [{"name": "$(json_escape "$user")", "password": "$(json_escape "$password")", "tags": "administrator"}],
  "permissions": [{"user": "$(json_escape "$user")", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
}
JSON
cp "$src" "$dir/20-topology.json"
# Started as root, the image's entrypoint drops to the rabbitmq user (gosu), which must be able to read the files.
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then
    chown -R rabbitmq:rabbitmq "$dir"
fi

exec docker-entrypoint.sh "$@"
