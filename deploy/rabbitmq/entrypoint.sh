#!/bin/sh
# Wraps the rabbitmq image's docker-entrypoint.sh: renders the `portal` user from the environment, copies the
# topology definitions next to it, then hands over. A definitions file cannot read environment variables, and a
# node that imports definitions on boot creates no default user, so the user has to be rendered here.
# See deploy/rabbitmq/README.md.
set -eu

user="${PORTAL_RABBITMQ_USER:-portal}"
password="${PORTAL_RABBITMQ_PASSWORD:?PORTAL_RABBITMQ_PASSWORD is not set}"
src="${PORTAL_RABBITMQ_DEFINITIONS:-/etc/rabbitmq/portal/definitions.json}"
permissions="${PORTAL_RABBITMQ_PERMISSIONS:-$(dirname "$src")/permissions.json}"
# The broker users besides the administrator (portal_common.broker_users.users; tests/deploy checks the list).
PORTAL_SERVICE_USERS="policies identity documents notify crm core gateway"
# Must match definitions.local.path in rabbitmq.conf (overridable only for tests/deploy).
dir="${PORTAL_RABBITMQ_DEFINITIONS_DIR:-/etc/rabbitmq/definitions.d}"

[ -r "$src" ] || { echo "rabbitmq-entrypoint: definitions file $src is missing or unreadable" >&2; exit 1; }
[ -r "$permissions" ] || { echo "rabbitmq-entrypoint: permissions file $permissions is missing or unreadable" >&2; exit 1; }

# JSON-escape backslashes and double quotes (the only characters that could break the string literal).
json_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

mkdir -p "$dir"
umask 077
# One user per service, one for the core system (issue 8) and one for the gateway's cache invalidation feed: each may publish only its own routing keys and read
# only its own queue; their permissions come from permissions.json (generated: make definitions). Every password
# comes from the environment (a secret), never from git: PORTAL_RABBITMQ_<WHO>_PASSWORD.
service_users=""
for who in $PORTAL_SERVICE_USERS; do
    var="PORTAL_RABBITMQ_$(printf '%s' "$who" | tr 'a-z-' 'A-Z_')_PASSWORD"
    eval "secret=\${$var:-}"
    [ -n "$secret" ] || { echo "rabbitmq-entrypoint: $var is not set (the broker user portal-$who)" >&2; exit 1; }
    service_users="$service_users, {\"name\": \"portal-$who\", \"password\": \"$(json_escape "$secret")\", \"tags\": \"\"}"
done
cat >"$dir/10-users.json" <<JSON
{
  "vhosts": [{"name": "/"}],
  "users": [{"name": "$(json_escape "$user")", "password": "$(json_escape "$password")", "tags": "administrator"}$service_users],
  "permissions": [{"user": "$(json_escape "$user")", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
}
JSON
cp "$src" "$dir/20-topology.json"
cp "$permissions" "$dir/30-permissions.json"
# Started as root, the image's entrypoint drops to the rabbitmq user (gosu), which must be able to read the files.
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then
    chown -R rabbitmq:rabbitmq "$dir"
fi

exec docker-entrypoint.sh "$@"
