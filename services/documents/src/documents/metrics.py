"""The service's own Prometheus metrics (registered once, at import). The shared ones (messages consumed,
dead-lettered, published; HTTP) come from portal_common.metrics."""
from prometheus_client import Counter

DOCUMENTS_INGESTED = Counter("portal_documents_ingested_total", "Documents verified, stored and announced",
                             ["doc_type"])
DOCUMENTS_REJECTED = Counter("portal_documents_rejected_total",
                             "document.uploaded events rejected (dead-lettered), by reason", ["reason"])
DOCUMENTS_DUPLICATE = Counter("portal_documents_duplicate_total", "document.uploaded for an already stored document")
DOCUMENTS_SWEPT = Counter("portal_documents_swept_total", "Documents deleted by the retention sweep")
