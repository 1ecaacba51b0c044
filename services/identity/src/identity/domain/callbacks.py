"""Callback requests ("Kérdésem van"): someone asks the insurer's contact centre to phone them back.

Plain Python. The fields and their rules are here so the API's schema and the tests share them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

#: What the call is about; the contact centre routes on it. The gateway shows words for each code.
TOPICS = ("policy", "claim", "payment", "documents", "portal", "legal", "other")
#: When the customer prefers to be called (the contact centre's opening hours, Budapest time).
TIMES_OF_DAY = ("any", "morning", "afternoon", "evening")
NAME_MAX, MESSAGE_MAX, POLICY_MAX = 200, 2000, 64
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def valid_idempotency_key(key: str) -> bool:
    return bool(key) and bool(_IDEMPOTENCY_KEY.match(key))


@dataclass(eq=False)
class CallbackRequest:
    request_id: str
    idempotency_key: str  # from the form: submitting it twice (double click, reload) creates one request
    client_key: str
    name: str
    phone: str
    email: str
    topic: str
    message: str
    preferred_time: str
    language: str
    created_at: datetime
    due_on: date  # the last day of the callback (two working days)
    policy_number: str | None = None
    customer_id: str | None = None  # set when a logged-in customer asked
    account_id: str | None = None
