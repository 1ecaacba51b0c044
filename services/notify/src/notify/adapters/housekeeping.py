"""Notify's own cleanup rule (run by the worker's housekeeper, see ``portal_common.housekeeping``).

``deliveries`` that are settled (sent, failed, skipped) are deleted ``PORTAL_DELIVERY_RETENTION_DAYS`` (default 400)
after they were recorded: longer than a document's 13 months, so the "one e-mail per document" key outlives every
document it guards. Pending rows are never touched: the delivery loop still owes them.
"""
from __future__ import annotations

from portal_common.housekeeping import Rule, days, older_than

from ..domain.model import FAILED, SENT, SKIPPED
from . import orm


def rules() -> list[Rule]:
    d = orm.deliveries
    return [Rule("deliveries", d, older_than(d, "created_at", days("PORTAL_DELIVERY_RETENTION_DAYS", 400),
                                             d.c.status.in_((SENT, FAILED, SKIPPED))))]
