"""Sending SMS: the port, an HTTP gateway adapter and a fake.

The gateway contract (``PORTAL_SMS_URL``): ``POST`` JSON ``{"to": "+36301234567", "text": "…"}``. Any 2xx means the
gateway accepted the message; 4xx means it never will (bad number, rejected text): permanent; 429, 5xx, timeouts and
refused connections are transient and retried with back-off.
"""
from __future__ import annotations

import abc

import requests

from ..domain.model import PermanentDeliveryError, TransientDeliveryError


class SmsGateway(abc.ABC):
    @abc.abstractmethod
    def send(self, to: str, text: str) -> None:
        """Hand the SMS over; raise TransientDeliveryError or PermanentDeliveryError."""


class FakeSmsGateway(SmsGateway):
    def __init__(self):
        self.sent: list[dict] = []
        self.fail_with: list[Exception] = []

    def send(self, to: str, text: str) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append({"to": to, "text": text})


class HttpSmsGateway(SmsGateway):
    def __init__(self, url: str, timeout: float = 10.0, session: requests.Session | None = None):
        self.url = url
        self.timeout = timeout
        self.session = session or requests.Session()

    def send(self, to: str, text: str) -> None:
        try:
            response = self.session.post(self.url, json={"to": to, "text": text}, timeout=self.timeout)
        except requests.RequestException as exc:
            # No URL and no body in the reason: the URL may carry a gateway key, the body the message text.
            raise TransientDeliveryError(f"SMS gateway unreachable: {type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 429 or status >= 500:
            raise TransientDeliveryError(f"SMS gateway answered HTTP {status}")
        if 400 <= status < 500:
            raise PermanentDeliveryError(f"SMS gateway rejected the message: HTTP {status}")
        raise TransientDeliveryError(f"SMS gateway answered HTTP {status}")
