#!/bin/sh
# Runs once, when the postgres:16 image initialises an empty data directory (docker-entrypoint-initdb.d).
# One database per service, each owned by a role of the same name: a service's credentials cannot reach another
# service's tables (database-per-service). Re-running it is harmless: it only creates what is missing.
set -eu

: "${PORTAL_DB_PASSWORD:?PORTAL_DB_PASSWORD is not set}"
services="${PORTAL_DB_SERVICES:-identity policies documents notify}"

for svc in $services; do
    echo "init-databases: role and database '$svc'"
    # psql variables (:'pw', :"svc") quote the values, so a password with quotes cannot break the statement.
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
         -v svc="$svc" -v pw="$PORTAL_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'svc', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'svc') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'svc', :'svc')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'svc') \gexec
REVOKE ALL ON DATABASE :"svc" FROM PUBLIC;
SQL
done
