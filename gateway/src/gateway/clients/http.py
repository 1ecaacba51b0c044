"""The one small HTTP helper every service client uses, and the ONE table that maps remote errors.

Every internal call carries ``X-Service-Token`` (internal APIs are not public), ``X-Correlation-ID`` (the gateway
starts one per request; services copy it into their logs and outbox rows) and ``X-Client-IP`` (identity throttles
failed identifications per client). Timeouts are always bounded: connect 2 s, read 10 s.

The calls go through urllib3's connection pool (keep-alive, one pool per service and process, thread-safe) without
``requests`` on top: on the gateway's busiest page ``requests`` cost about twice urllib3's CPU per call (merging
session settings, preparing the request, its own response object), a third of the gateway's CPU. Nothing is retried,
as before: a call that fails is the page's ``ServiceUnavailable``.
"""
from __future__ import annotations

import json as jsonlib
import os
import threading
from typing import Any, Iterator
from urllib.parse import urlencode, urlsplit

import urllib3
from flask import has_request_context, request
from flask_babel import lazy_gettext as _l

from portal_common import logs

log = logs.get_logger(__name__)
TIMEOUT = (2.0, 10.0)  # (connect, read) seconds


class RemoteError(Exception):
    """An internal service answered with an error the page cannot handle more specifically."""

    message = _l("Váratlan hiba történt. Kérjük, próbálja újra később.")

    def __init__(self, service: str = "", status: int = 0, body: dict | None = None):
        self.service, self.status, self.body = service, status, body or {}
        self.code = self.body.get("error")
        super().__init__(f"{service} answered {status} {self.code or ''}".strip())


class ServiceUnavailable(RemoteError):
    """The service is down, timed out or failed (5xx): pages show a short notice or the 503 page."""

    message = _l("A szolgáltatás átmenetileg nem érhető el. Kérjük, próbálja újra néhány perc múlva.")


class NotFound(RemoteError):
    message = _l("A keresett oldal vagy dokumentum nem található.")


class SessionExpired(RemoteError):
    message = _l("A munkamenete lejárt, kérjük, jelentkezzen be újra.")


class Gone(RemoteError):
    """410: an activation link that expired / was used / is unknown, or a document past its 13 months."""

    message = _l("Ez már nem érhető el.")


class Conflict(RemoteError):
    message = _l("A művelet most nem hajtható végre.")


class AlreadyDeclared(Conflict):
    message = _l("Önnek már van érvényes nyilatkozata az elektronikus kapcsolattartásról, így újabbra nincs szükség: "
                 "folytathatja a regisztrációval.")


class InvalidFields(RemoteError):
    """422 ``{"error": "invalid", "fields": {field: [{"code", "message_hu", "message_en"}]}}``."""

    message = _l("Kérjük, javítsa a pirossal jelölt mezőket.")

    @property
    def fields(self) -> dict[str, list]:
        return self.body.get("fields") or {}


class IdentificationFailed(RemoteError):
    # Never says which item failed (ASVS 6.3.8): one message for every mismatch.
    message = _l(
        "A megadott adatok alapján nem sikerült azonosítani Önt. Nézze át betűről betűre az adatokat, és küldje "
        "el újra az űrlapot. Ha néhány kísérlet után sem jár sikerrel, telefonos ügyfélszolgálatunk segít: "
        "%(phone)s."
    )


class NotEligible(RemoteError):
    message = _l(
        "A regisztrációhoz legalább egy élő, csoportos beszedéssel vagy banki átutalással fizetett kötelező "
        "gépjármű-felelősségbiztosítás, casco, lakás- vagy vállalkozói vagyonbiztosítás szükséges, amelynek Ön a "
        "szerződője."
    )


class ActivationPending(RemoteError):
    """422 ``activation_pending``: this customer's registration awaits activation and its link is still valid."""

    message = _l("Ehhez a szerződőhöz már tartozik aktiválásra váró regisztráció, és az aktiváló link még érvényes.")


class NoDeclaration(RemoteError):
    """404 ``no_declaration``: the identified customer has no active declaration to withdraw."""

    message = _l("Önnek jelenleg nincs érvényes nyilatkozata az elektronikus kapcsolattartásról, így nincs mit "
                 "visszavonni: dokumentumait postán kapja.")


class AlreadyRegistered(RemoteError):
    message = _l("Ehhez a szerződőhöz már tartozik Ügyfélportál-fiók. Jelentkezzen be, vagy ha elfelejtette "
                 "felhasználónevét vagy jelszavát, kérjen újat.")


class Throttled(RemoteError):
    """429 ``{"error": "throttled", "retry_after": seconds}`` (identifications, login, recovery, resend). Pages word
    it with the minutes (:attr:`retry_minutes`); recovery and resend never show it (they reveal nothing)."""

    message = _l("Túl sok próbálkozás. Kérjük, néhány perc múlva próbálja újra.")

    @property
    def retry_minutes(self) -> int:
        seconds = int(self.body.get("retry_after") or 60)
        return max(1, -(-seconds // 60))


class InvalidCredentials(RemoteError):
    message = _l("Hibás felhasználónév vagy jelszó.")


class Locked(RemoteError):
    message = _l("A fiókja zárolva van.")

    @property
    def locked_until(self) -> str | None:
        return self.body.get("locked_until")

    def lock(self) -> dict:
        """What the locked page says, all from identity's answer: until when, after how many wrong passwords, for
        how many hours."""
        return {"until": self.locked_until, "threshold": self.body.get("lockout_threshold"),
                "hours": self.body.get("lockout_hours")}


# THE table: (HTTP status, remote "error" code or None for any) -> the gateway's exception.
# Checked with the exact code first, then with None; anything unlisted >= 500 is ServiceUnavailable.
# (A login of an account that awaits activation is a plain 401 invalid_credentials: identity reveals nothing more.)
ERROR_TABLE: dict[tuple[int, str | None], type[RemoteError]] = {
    (401, "invalid_credentials"): InvalidCredentials,
    (404, "expired"): SessionExpired,  # GET /internal/sessions/<id>: idle timeout passed or logged out
    (404, "no_declaration"): NoDeclaration,  # POST /internal/declarations/withdraw
    (404, None): NotFound,
    (409, "already_declared"): AlreadyDeclared,
    (409, None): Conflict,
    (410, None): Gone,
    (422, "identification_failed"): IdentificationFailed,
    (422, "not_eligible"): NotEligible,
    (422, "already_registered"): AlreadyRegistered,
    (422, "activation_pending"): ActivationPending,
    (422, "invalid"): InvalidFields,
    (423, "locked"): Locked,
    (429, None): Throttled,
}


def error_for(service: str, status: int, body: dict | None) -> RemoteError:
    code = (body or {}).get("error")
    cls = ERROR_TABLE.get((status, code)) or ERROR_TABLE.get((status, None))
    if cls is None:
        cls = ServiceUnavailable if status >= 500 else RemoteError
    return cls(service, status, body)


class Response:
    """What a call returns: ``status_code``, ``headers`` (case-insensitive), ``content`` (bytes) and ``json()``; a
    streamed one (``stream=True``) is read with ``iter_content`` and must be closed."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, stream: bool = False):
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers
        self._stream = stream
        self._content: bytes | None = None if stream else raw.data

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = self.raw.read()
            self.close()
        return self._content

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        yield from self.raw.stream(chunk_size)

    def close(self) -> None:
        """Give the connection back to the pool; one whose body was not read to the end is closed instead (its
        unread bytes would otherwise be the next call's answer)."""
        if self._stream and self._content is None and not self.raw.isclosed():
            self.raw.close()
        self.raw.release_conn()


class ServiceClient:
    """A thin JSON client for one internal service: one urllib3 connection pool (keep-alive) per process."""

    service = "service"
    #: Connections kept open per service and process: gunicorn's request threads plus the compose pool's.
    POOL_SIZE = 32

    def __init__(self, base_url: str, token: str, timeout: tuple[float, float] = TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._prefix = urlsplit(self.base_url).path
        self._urllib3_timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        self._pools: tuple[int, urllib3.HTTPConnectionPool] | None = None
        self._lock = threading.Lock()

    def _pool(self) -> urllib3.HTTPConnectionPool:
        # One per process: a pool made before gunicorn's fork would share its sockets with the other workers.
        pid = os.getpid()
        pools = self._pools
        if pools is None or pools[0] != pid:
            with self._lock:
                pools = self._pools
                if pools is None or pools[0] != pid:
                    pool = urllib3.connection_from_url(self.base_url, maxsize=self.POOL_SIZE, block=False,
                                                       retries=False, timeout=self._urllib3_timeout)
                    pools = self._pools = (pid, pool)
        return pools[1]

    def _headers(self) -> dict[str, str]:
        headers = {"X-Service-Token": self.token, "Accept": "application/json"}
        correlation_id = logs.current_correlation_id()
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        if has_request_context() and request.remote_addr:
            headers["X-Client-IP"] = request.remote_addr
        return headers

    def _url(self, path: str, params: dict | None) -> str:
        url = self._prefix + path
        if params:
            # As requests did: a None value is left out, a list repeats the parameter.
            query = urlencode([(k, v) for k, v in params.items() if v is not None], doseq=True)
            if query:
                url += "?" + query
        return url

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                stream: bool = False) -> Response:
        """Send one request; return the response when 2xx, raise the mapped :class:`RemoteError` otherwise."""
        headers = self._headers()
        body = None
        if json is not None:
            body = jsonlib.dumps(json, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        try:
            raw = self._pool().urlopen(method, self._url(path, params), body=body, headers=headers, retries=False,
                                       redirect=False, assert_same_host=False, preload_content=not stream,
                                       release_conn=not stream)
        except urllib3.exceptions.HTTPError as exc:
            # Log the service and the kind of failure only: paths may hold tokens (activation links).
            log.warning("service_unreachable", service=self.service, method=method, error=type(exc).__name__)
            raise ServiceUnavailable(self.service, 0, {"error": "unreachable"}) from exc
        response = Response(raw, stream=stream)
        if response.ok:
            return response
        try:
            body = jsonlib.loads(response.content) if response.content else {}
        except (ValueError, urllib3.exceptions.HTTPError):
            body = {}
        finally:
            response.close()
        if not isinstance(body, dict):
            body = {}
        error = error_for(self.service, response.status_code, body)
        if isinstance(error, ServiceUnavailable) or type(error) is RemoteError:
            log.warning("service_error", service=self.service, method=method, status=response.status_code,
                        error=error.code)
        raise error

    def ping(self) -> None:
        """Readiness info only: the service answers its own ``/healthz``."""
        raw = self._pool().urlopen("GET", self._prefix + "/healthz", retries=False, redirect=False,
                                   assert_same_host=False, timeout=urllib3.Timeout(connect=1.0, read=2.0))
        if raw.status >= 400:
            raise ServiceUnavailable(self.service, raw.status, {"error": "not_ready"})

    def get_json(self, path: str, params: dict | None = None) -> dict:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, payload: dict | None = None) -> dict:
        response = self.request("POST", path, json=payload or {})
        return response.json() if response.content else {}
