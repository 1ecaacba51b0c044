"""The service's own Prometheus metrics (registered once, at import). The shared ones (messages consumed,
dead-lettered, published; HTTP) come from portal_common.metrics.

Each counter is bumped only after the transaction that did the work has committed (``uow.after_commit``): the
shared consumer can run a handler more than once for one delivery, and only the committed run counts. Rejections are
not counted here: ``portal_messages_dead_lettered_total{service="documents",event="document.uploaded",reason=…}``
(reason = the dead-letter text before its first colon, e.g. ``sha256 mismatch``) counts each dead-lettered message
once, at the moment it is published to the dead-letter queue.
"""
from prometheus_client import Counter

DOCUMENTS_INGESTED = Counter("portal_documents_ingested_total", "Documents verified, stored and announced (committed)",
                             ["doc_type"])
DOCUMENTS_DUPLICATE = Counter("portal_documents_duplicate_total",
                              "document.uploaded for an already stored document with the same content (committed)")
DOCUMENTS_SWEPT = Counter("portal_documents_swept_total", "Documents deleted by the retention sweep (committed)")
