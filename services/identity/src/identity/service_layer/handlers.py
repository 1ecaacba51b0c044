"""Use cases. Plain functions ``(command, *, deps)``; the HTTP API, the worker and the tests call the same ones.

Dependencies are injected by name (see :meth:`identity.bootstrap.Wiring.handle`): ``uow``, ``clock``, ``hasher``,
``directory``, ``settings``. Nothing here logs a password, a one-time password, a token or a link with a token, and
no event carries one in clear: they are sealed for notify (``portal_common.sealing``), bound to the account id.

The use cases live one module per area; this module is their index, so ``handlers.login`` (API routes, the tests,
``bus.handle(handlers.login, …)``) keeps naming every one of them:

- ``declarations``: identify, declare, get_declaration, withdraw_declaration, withdraw_identified_declaration
- ``registration``: register, resend_activation, activate, get_account
- ``login``: login (and the lockout); ``sessions``: touch_session, logout, change_password
- ``recovery``: request_recovery; ``closing``: close_account
- ``notifications``: the events routed to identity (notification.failed, policy.upserted)
- ``common``: token hashing, ISO times, the per-client allowances
"""
from __future__ import annotations

from .common import IDENTIFICATION, LOGIN_FAILURE, RECOVERY, client_key, iso, sha256  # noqa: F401
from .declarations import (  # noqa: F401
    declare,
    get_declaration,
    identify,
    withdraw_declaration,
    withdraw_identified_declaration,
)
from .registration import activate, get_account, register, resend_activation  # noqa: F401
from .login import login  # noqa: F401
from .sessions import change_password, logout, touch_session  # noqa: F401
from .recovery import request_recovery  # noqa: F401
from .closing import close_account  # noqa: F401
from .notifications import (  # noqa: F401
    INITIAL_PASSWORD_EVENTS,
    INITIAL_PASSWORD_TEMPLATE,
    mark_sms_failed,
    note_notification_failed,
    policy_changed,
)
