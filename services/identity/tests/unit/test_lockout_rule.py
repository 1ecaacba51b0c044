"""The lockout rule itself (``LoginLockout.record_failed_login``): plain Python, one home for accounts and for
usernames without one."""
from datetime import datetime, timedelta, timezone

import pytest

from identity.domain.model import UnknownLogin

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
DAY = timedelta(hours=24)


def test_the_threshold_th_failure_locks_once_and_nothing_counts_while_locked():
    name = UnknownLogin("h")
    results = [name.record_failed_login(NOW, 3, DAY) for _ in range(5)]
    assert [(r.failed_attempts, r.locked_until, r.locked_now) for r in results] == [
        (1, None, False), (2, None, False), (3, NOW + DAY, True), (3, NOW + DAY, False), (3, NOW + DAY, False)]


@pytest.mark.parametrize("threshold, expected", [(1, 1), (5, 5)])
def test_the_threshold_is_a_parameter(threshold, expected):
    name = UnknownLogin("h")
    while not name.record_failed_login(NOW, threshold, DAY).locked_now:
        pass
    assert name.failed_attempts == expected


def test_after_the_lock_a_new_series_starts_at_one():
    name = UnknownLogin("h")
    for _ in range(3):
        name.record_failed_login(NOW, 3, DAY)
    assert name.is_locked(NOW + DAY - timedelta(seconds=1)) and not name.is_locked(NOW + DAY)
    result = name.record_failed_login(NOW + DAY, 3, DAY)
    assert (result.failed_attempts, result.locked_until) == (1, None)
    assert name.last_failed_at == NOW + DAY


def test_a_success_resets_the_series():
    name = UnknownLogin("h")
    name.record_failed_login(NOW, 3, DAY)
    name.record_failed_login(NOW, 3, DAY)
    name.login_succeeded()
    assert name.record_failed_login(NOW, 3, DAY).failed_attempts == 1
