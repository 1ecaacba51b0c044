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
    message = _l("Önnek már van érvényes nyilatkozata az elektronikus kapcsolattartásról, ezt a lépést kihagyhatja.")


class InvalidFields(RemoteError):
    """422 ``{"error": "invalid", "fields": {field: [{"code", "message_hu", "message_en"}]}}``."""

    message = _l("Kérjük, javítsa a pirossal jelölt mezőket.")

    @property
    def fields(self) -> dict[str, list]:
        return self.body.get("fields") or {}


class IdentificationFailed(RemoteError):
    # Never says which item failed (ASVS 6.3.8): one message for every mismatch.
    message = _l(
        "A megadott adatok alapján nem sikerült azonosítani Önt. Kérjük, ellenőrizze gondosan az adatokat, "
        "és próbálja újra. Ha többszöri próbálkozásra sem sikerül, hívja telefonos ügyfélszolgálatunkat: %(phone)s."
    )


class NotEligible(RemoteError):
    message = _l(
        "A regisztrációhoz legalább egy élő, csoportos beszedéssel vagy banki átutalással fizetett kötelező "
        "gépjármű-felelősségbiztosítás, casco, lakás- vagy vállalkozói vagyonbiztosítás szükséges, amelynek Ön a "
        "szerződője."
    )


class AlreadyRegistered(RemoteError):
    message = _l("Ehhez a szerződőhöz már tartozik Ügyfélportál-fiók. Jelentkezzen be, vagy ha elfelejtette "
                 "felhasználónevét vagy jelszavát, kérjen újat.")


class Throttled(RemoteError):
    message = _l("Túl sok sikertelen próbálkozás. Kérjük, várjon %(minutes)s percet, és próbálja újra.")

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


class NotActivated(RemoteError):
    message = _l(
        "A fiókja még nincs aktiválva. Kérjük, kattintson az aktiváló e-mailben kapott linkre "
        "(nézze meg a levélszemét és a promóciók mappát is), vagy kérjen új linket."
    )


# THE table: (HTTP status, remote "error" code or None for any) -> the gateway's exception.
# Checked with the exact code first, then with None; anything unlisted >= 500 is ServiceUnavailable.
ERROR_TABLE: dict[tuple[int, str | None], type[RemoteError]] = {
    (401, "invalid_credentials"): InvalidCredentials,
    (403, "not_activated"): NotActivated,
    (404, "expired"): SessionExpired,  # GET /internal/sessions/<id>: idle timeout passed or logged out
    (404, None): NotFound,
    (409, "already_declared"): AlreadyDeclared,
    (409, None): Conflict,
    (410, None): Gone,
    (422, "identification_failed"): IdentificationFailed,
    (422, "not_eligible"): NotEligible,
    (422, "already_registered"): AlreadyRegistered,
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
