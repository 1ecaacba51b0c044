#!/bin/sh
# One-shot job (minio/mc image): creates the portal buckets and the 13-month expiry on stored documents.
# Safe to re-run: buckets are created only if missing and the lifecycle rule only if no rule of that many days exists.
# The service enforces the 13-month window itself as well: lifecycle expiry is asynchronous and day-rounded.
set -eu

endpoint="${MINIO_ENDPOINT:-http://minio:9000}"
inbox="${PORTAL_S3_INBOX_BUCKET:-portal-inbox}"
documents="${PORTAL_S3_DOCUMENTS_BUCKET:-portal-documents}"
expire_days="${PORTAL_DOCUMENT_LIFECYCLE_DAYS:-398}"

tries=0
until mc alias set portal "$endpoint" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "minio-init: MinIO at $endpoint not reachable after 60s" >&2
        exit 1
    fi
    sleep 2
done

mc mb --ignore-existing "portal/$inbox"
mc mb --ignore-existing "portal/$documents"

rules="$(mc ilm rule ls "portal/$documents" 2>/dev/null || true)"
case "$rules" in
    *"$expire_days"*) echo "minio-init: lifecycle rule ($expire_days days) already present on $documents" ;;
    *) mc ilm rule add --expire-days "$expire_days" "portal/$documents" ;;
esac
mc ilm rule ls "portal/$documents"
