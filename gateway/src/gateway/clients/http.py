"""The one small HTTP helper every service client uses, and the ONE table that maps remote errors.

Every internal call carries ``X-Service-Token`` (internal APIs are not public), ``X-Correlation-ID`` (the gateway
starts one per request; services copy it into their logs and outbox rows) and ``X-Client-IP`` (identity throttles
failed identifications per client). Timeouts are always bounded: connect 2 s, read 10 s.
"""
from __future__ import annotations

import threading
from typing import Any

import requests
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


class ServiceClient:
    """A thin JSON client for one internal service. One ``requests.Session`` per thread (pooled connections)."""

    service = "service"

    def __init__(self, base_url: str, token: str, timeout: tuple[float, float] = TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            # Internal calls never go through a proxy nor use ~/.netrc: without this, requests reads the proxy
            # variables and looks for a netrc file on every call.
            session.trust_env = False
        return session

    def _headers(self) -> dict[str, str]:
        headers = {"X-Service-Token": self.token, "Accept": "application/json"}
        correlation_id = logs.current_correlation_id()
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        if has_request_context() and request.remote_addr:
            headers["X-Client-IP"] = request.remote_addr
        return headers

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                stream: bool = False) -> requests.Response:
        """Send one request; return the response when 2xx, raise the mapped :class:`RemoteError` otherwise."""
        url = self.base_url + path
        try:
            response = self._session().request(method, url, json=json, params=params, headers=self._headers(),
                                               timeout=self.timeout, stream=stream)
        except requests.RequestException as exc:
            # Log the service and the kind of failure only: paths may hold tokens (activation links).
            log.warning("service_unreachable", service=self.service, method=method, error=type(exc).__name__)
            raise ServiceUnavailable(self.service, 0, {"error": "unreachable"}) from exc
        if response.ok:
            return response
        try:
            body = response.json() if response.content else {}
        except ValueError:
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
        self._session().get(self.base_url + "/healthz", timeout=(1.0, 2.0)).raise_for_status()

    def get_json(self, path: str, params: dict | None = None) -> dict:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, payload: dict | None = None) -> dict:
        response = self.request("POST", path, json=payload or {})
        return response.json() if response.content else {}
