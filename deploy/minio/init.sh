#!/bin/sh
# One-shot job (minio/mc image): creates the portal buckets. Safe to re-run: buckets are created only if missing.
# The expiry rule on stored documents is the documents service's to write (one writer, ID portal-document-retention,
# PORTAL_DOCUMENT_LIFECYCLE_DAYS): at every start it puts its rule, keeps other rules and removes the 397-day rule
# that this script added under a random ID in earlier releases (services/documents/README.md).
set -eu

endpoint="${MINIO_ENDPOINT:-http://minio:9000}"
inbox="${PORTAL_S3_INBOX_BUCKET:-portal-inbox}"
documents="${PORTAL_S3_DOCUMENTS_BUCKET:-portal-documents}"

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

mc ilm rule ls "portal/$documents" 2>/dev/null || echo "minio-init: no lifecycle rule on $documents yet (the documents service adds it when it starts)"
