# syntax=docker/dockerfile:1
# One Dockerfile for every portal image.
#
#   docker build --target service --build-arg SERVICE=documents -t insurance-portal/documents .
#   docker build --target gateway -t insurance-portal/gateway .
#
# Each image holds libs/portal_common + exactly one service (its own migrations and gunicorn.conf.py under
# /app/services/<name>/), contracts/ (read at run time via PORTAL_CONTRACTS_DIR) and deploy/boot.sh as entrypoint.
# The container's command is the role: migrate | api | worker | await-migrations (see deploy/boot.sh).

ARG PYTHON_IMAGE=python:3.11-slim
# The PostgreSQL driver named by the deployment's postgresql+psycopg2:// URLs; the services' own pyproject files
# need not depend on it (the embedded run uses SQLite).
ARG DB_DRIVER="psycopg2-binary>=2.9"

# --- base: what every stage and the runtime share -----------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /app --no-create-home --shell /usr/sbin/nologin portal

# --- build: compilers and headers stay out of the runtime image ---------------------------------------------
FROM base AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libpq-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY libs/portal_common /src/libs/portal_common

FROM build AS service-build
ARG SERVICE
ARG DB_DRIVER
RUN test -n "$SERVICE" || { echo "build arg SERVICE is required (identity|policies|documents|notify)" >&2; exit 1; }
COPY services/${SERVICE} /src/services/${SERVICE}
# One resolver run for both, so the service's dependency on portal-common is satisfied by the local copy.
RUN pip install /src/libs/portal_common "/src/services/${SERVICE}" "${DB_DRIVER}"

FROM build AS gateway-build
COPY gateway /src/gateway
RUN pip install /src/libs/portal_common /src/gateway

# --- runtime ------------------------------------------------------------------------------------------------
FROM base AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Everything the processes write goes under /tmp (an emptyDir in kubernetes; the root filesystem is read-only):
# PORTAL_VAR_DIR (portal_common.config.var_dir is evaluated even when a database URL is set), the Prometheus
# multiprocess files, and gunicorn's control socket (XDG_RUNTIME_DIR; $HOME=/app is not writable).
ENV PATH=/opt/venv/bin:$PATH \
    PORTAL_CONTRACTS_DIR=/app/contracts \
    PORTAL_HTTP_PORT=8000 \
    PORTAL_HEALTH_PORT=9100 \
    PORTAL_VAR_DIR=/tmp/portal-var \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc \
    XDG_RUNTIME_DIR=/tmp
COPY contracts /app/contracts
COPY deploy/boot.sh deploy/healthcheck.py /app/deploy/
RUN chmod 0755 /app/deploy/boot.sh
EXPOSE 8000 9100
ENTRYPOINT ["/app/deploy/boot.sh"]

FROM runtime AS service
ARG SERVICE
ENV PORTAL_SERVICE=${SERVICE}
COPY --from=service-build /opt/venv /opt/venv
# alembic.ini, migrations/ and gunicorn.conf.py are read from the source tree, relative to /app.
COPY services/${SERVICE} /app/services/${SERVICE}
USER portal:portal
CMD ["api"]

FROM runtime AS gateway
ENV PORTAL_SERVICE=gateway
COPY --from=gateway-build /opt/venv /opt/venv
COPY gateway /app/gateway
USER portal:portal
CMD ["api"]
