# syntax=docker/dockerfile:1
# One Dockerfile for every portal image (BuildKit: `DOCKER_BUILDKIT=1`, the default of current Docker).
#
#   docker build --target service --build-arg SERVICE=documents -t insurance-portal/documents .
#   docker build --target gateway -t insurance-portal/gateway .
#
# Each image holds libs/portal_common + exactly one service (its own migrations and gunicorn.conf.py under
# /app/services/<name>/), contracts/ (read at run time via PORTAL_CONTRACTS_DIR) and deploy/boot.sh as entrypoint.
# The container's command is the role: migrate | api | worker | await-migrations (see deploy/boot.sh).
#
# Reproducible: the base image is pinned by digest, and every third-party package comes from requirements.lock
# (hash-checked; only the part the image's package needs, deploy/lock_subset.py). Fast: that dependency layer comes
# before any source is copied and uses a BuildKit cache for pip, so a code change rebuilds only the last layers.
# No compiler and no apt package: every dependency is a wheel (psycopg2-binary bundles libpq).
#
# Bumping the base image (monthly, or for a CVE in it): look up the digest of the tag's OCI index with
#   docker buildx imagetools inspect python:3.11-slim-bookworm      (the "Digest:" line)
# put it below, build, run `make test`, commit. The digest below is python:3.11.16-slim-bookworm's OCI index.
ARG PYTHON_IMAGE=python:3.11.16-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# --- base: what every stage and the runtime share -----------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
RUN groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /app --no-create-home --shell /usr/sbin/nologin portal

# --- build: a virtualenv with the locked dependencies, then the portal's own packages -----------------------------
FROM base AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.lock deploy/lock_subset.py /src/

FROM build AS service-build
ARG SERVICE
RUN test -n "$SERVICE" || { echo "build arg SERVICE is required (identity|policies|documents|notify)" >&2; exit 1; }
# Dependencies first: this layer changes only with requirements.lock (or SERVICE); pip's cache is a BuildKit cache
# mount, kept between builds and never part of a layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    python lock_subset.py portal-common "portal-${SERVICE}" setuptools > requirements.txt \
 && pip install --require-hashes --no-deps -r requirements.txt
COPY libs/portal_common /src/libs/portal_common
COPY services/${SERVICE} /src/services/${SERVICE}
RUN pip install --no-cache-dir --no-deps --no-build-isolation /src/libs/portal_common "/src/services/${SERVICE}" \
 && pip check

FROM build AS gateway-build
RUN --mount=type=cache,target=/root/.cache/pip \
    python lock_subset.py portal-common portal-gateway setuptools > requirements.txt \
 && pip install --require-hashes --no-deps -r requirements.txt
COPY libs/portal_common /src/libs/portal_common
COPY gateway /src/gateway
RUN pip install --no-cache-dir --no-deps --no-build-isolation /src/libs/portal_common /src/gateway \
 && pip check

# --- runtime ------------------------------------------------------------------------------------------------
FROM base AS runtime
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
COPY --chmod=0755 deploy/boot.sh /app/deploy/boot.sh
COPY deploy/healthcheck.py /app/deploy/healthcheck.py
EXPOSE 8000 9100
ENTRYPOINT ["/app/deploy/boot.sh"]

FROM runtime AS service
ARG SERVICE
ENV PORTAL_SERVICE=${SERVICE}
COPY --from=service-build /opt/venv /opt/venv
# alembic.ini, migrations/ and gunicorn.conf.py are read from the source tree, relative to /app.
COPY services/${SERVICE} /app/services/${SERVICE}
USER 10001:10001
CMD ["api"]

FROM runtime AS gateway
ENV PORTAL_SERVICE=gateway
COPY --from=gateway-build /opt/venv /opt/venv
COPY gateway /app/gateway
USER 10001:10001
CMD ["api"]
