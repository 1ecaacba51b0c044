"""PolicyDirectory port: who is the policyholder behind a policy number and identification data?

Identity keeps no copy of policyholder data; it asks the policies service at identification time
(``POST /internal/policyholders/match``), so a registration always sees the core system's latest state.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field

import requests

from portal_common import callers, logs

from ..domain.commands import Identification
from ..domain.errors import DirectoryUnavailable

log = logs.get_logger(__name__)


@dataclass(frozen=True)
class Policyholder:
    customer_id: str
    email: str | None
    mobile: str | None
    may_register: bool
    policies: tuple = field(default=())


class PolicyDirectory(abc.ABC):
    @abc.abstractmethod
    def match(self, ident: Identification) -> Policyholder | None:
        """The identified policyholder, or None when anything does not match. Raises DirectoryUnavailable."""


class HttpPolicyDirectory(PolicyDirectory):
    def __init__(self, base_url: str, *, token: str | None = None, timeout: tuple[float, float] = (3.05, 10.0),
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token if token is not None else callers.own_token(callers.IDENTITY)
        self.timeout = timeout
        self.http = session or requests.Session()

    def match(self, ident):
        body = {"policy_number": ident.policy_number, "name": ident.name, "birth_name": ident.birth_name,
                "birth_date": ident.birth_date.isoformat(), "birth_place": ident.birth_place,
                "mother_name": ident.mother_name}
        headers = {"X-Service-Token": self.token}
        correlation_id = logs.current_correlation_id()
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        try:
            response = self.http.post(f"{self.base_url}/internal/policyholders/match", json=body, headers=headers,
                                      timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("policies_unreachable", error=type(exc).__name__)
            raise DirectoryUnavailable(str(exc)) from exc
        if response.status_code in (404, 422):
            return None  # no match, or data the policies service cannot even parse: the same generic answer
        if response.status_code != 200:
            log.warning("policies_error", status=response.status_code)
            raise DirectoryUnavailable(f"policies answered {response.status_code}")
        data = response.json()
        return Policyholder(customer_id=data["customer_id"], email=data.get("email"), mobile=data.get("mobile"),
                            may_register=bool(data.get("may_register")), policies=tuple(data.get("policies") or ()))


class FakePolicyDirectory(PolicyDirectory):
    """Holds ``(Identification, Policyholder)`` pairs; matches like the policies service does (case and outer
    spaces ignored, accents significant)."""

    def __init__(self, entries=()):
        self.entries = list(entries)
        self.calls = 0
        self.down = False

    def add(self, ident: Identification, holder: Policyholder) -> None:
        self.entries.append((ident, holder))

    def match(self, ident):
        self.calls += 1
        if self.down:
            raise DirectoryUnavailable("fake directory is down")
        for known, holder in self.entries:
            if _key(known) == _key(ident):
                return holder
        return None


def _key(ident: Identification) -> tuple:
    def norm(s: str) -> str:
        return " ".join((s or "").split()).casefold()

    return (ident.policy_number.strip(), norm(ident.name), norm(ident.birth_name), ident.birth_date,
            norm(ident.birth_place), norm(ident.mother_name))
