"""Client of the notify service (delivery log for operators and the dev pages). Port 8104."""
from __future__ import annotations

from .http import ServiceClient


class NotifyClient(ServiceClient):
    service = "notify"

    def deliveries(self, to: str | None = None, limit: int = 50) -> list[dict]:
        """``[{id, channel, template, to, status, attempts, created_at, sent_at, reason}]`` newest first."""
        params = {"limit": limit, **({"to": to} if to else {})}
        return self.get_json("/internal/deliveries", params=params).get("deliveries", [])
