"""The retention sweep as a worker thread (``runner.run(extra_threads=[...])``): every
``PORTAL_RETENTION_SWEEP_SECONDS`` it deletes the documents whose 13 months are over, and publishes one
``document.expiring`` for each unread document whose window ends within ``PORTAL_EXPIRY_REMINDER_DAYS`` (30) days
(notify e-mails the reminder once).

S3 lifecycle rules expire objects asynchronously, in whole days, and moto and some S3-compatible stores never expire
anything, so the service does not rely on them alone. The same thread retries putting the buckets and their
lifecycle rule in place if that failed at start (the store was down).
"""
from __future__ import annotations

import threading
from typing import Callable

from portal_common import logs

from . import handlers

log = logs.get_logger(__name__)


class RetentionSweeper:
    def __init__(self, uow_factory, store, clock: Callable, interval: float, *,
                 ensure_storage: Callable[[], bool] | None = None, reminder_days: int | None = None):
        self.uow_factory = uow_factory
        self.store = store
        self.clock = clock
        self.interval = interval
        self.ensure_storage = ensure_storage
        self.reminder_days = reminder_days
        self.storage_ready = ensure_storage is None
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> int:
        if not self.storage_ready:
            self.storage_ready = self.ensure_storage()
        now = self.clock()
        if self.reminder_days:
            handlers.send_expiry_reminders(self.uow_factory, now, self.reminder_days)
        return len(handlers.sweep_expired(self.uow_factory, self.store, now))

    def run_forever(self) -> None:
        log.info("retention_sweep_started", interval_s=self.interval)
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - try again next round
                log.exception("retention_sweep_failed")
            self._stop.wait(self.interval)
