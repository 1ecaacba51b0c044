"""``bench_gateway.py --floor``: the gateway's own ``/home`` with no internal hop — the ceiling of any design that
keeps rendering the page in the gateway.

The real gateway app (``gateway.app:create_app``: its templates, session cookie, CSRF, security headers, logging and
metrics), but with the in-memory fake clients of its unit tests (``gateway.clients.fakes``) instead of HTTP calls to
identity, policies and documents: one customer with 3 policies, 20 documents and an active declaration, like the
benchmark's seeded customer. It runs under the gateway's gunicorn configuration beside the real stack, so
``/home`` here costs what the gateway itself costs, and the gap to the real ``/home`` is what the three internal
requests cost. A read model or a per-customer store in the gateway would add its own read to this floor.

Not a deployment: without ``preload_app`` each gunicorn worker builds its own fakes, so every worker knows the same
fixed session id (:data:`SESSION_ID`), whichever worker handled the login.
"""
from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta, timezone

CUSTOMER_ID, USERNAME, PASSWORD = "FLOOR-C-1", "floor.user", "floor correct horse battery"
SESSION_ID = "bench-floor-session"
POLICIES = (("KGFB-FLOOR-1", "kgfb", "direct_debit"), ("CASCO-FLOOR-2", "casco", "bank_transfer"),
            ("HOME-FLOOR-3", "home", "direct_debit"))
DOCUMENTS = 20


def _clients():
    from gateway.clients.fakes import fake_clients

    clients = fake_clients()
    for fake in (clients.identity, clients.policies, clients.documents, clients.notify):
        fake.calls = deque(maxlen=1)  # the unit tests' call log would grow with every page
    identity = clients.identity
    identity.add_holder(customer_id=CUSTOMER_ID, policy_number=POLICIES[0][0])
    account_id = identity.add_account(username=USERNAME, password=PASSWORD, customer_id=CUSTOMER_ID)
    identity.add_declaration(customer_id=CUSTOMER_ID)
    identity.sessions[SESSION_ID] = account_id
    real_login = identity.login

    def login(username: str, password: str) -> dict:
        answer = real_login(username, password)
        identity.sessions.pop(answer["session_id"], None)
        return {**answer, "session_id": SESSION_ID}

    identity.login = login
    for number, product, payment in POLICIES:
        clients.policies.add_policy(number, customer_id=CUSTOMER_ID, product=product, payment_method=payment)
    start = datetime.now(timezone.utc) - timedelta(days=DOCUMENTS)
    for n in range(DOCUMENTS):
        number, product, _ = POLICIES[n % len(POLICIES)]
        clients.documents.add_document(customer_id=CUSTOMER_ID, title=f"Díjértesítő {n + 1:02d}", policy_number=number,
                                       doc_type="premium_notice", uploaded_at=start + timedelta(days=n),
                                       read=n % 3 == 0)
    return clients


def create():
    """The gunicorn app factory: ``gunicorn -c gateway/gunicorn.conf.py --chdir bench 'floor_app:create()'``."""
    from gateway.app import create_app

    return create_app({"CLIENTS": _clients()})
