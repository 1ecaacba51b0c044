"""How a worker that applies several batches at once acknowledges them on its one channel (``_Acks``): batches
finish in any order, every delivery is acknowledged exactly once, and a ``multiple`` acknowledgement never names a
tag that was already acknowledged (RabbitMQ closes the channel on an unknown delivery tag)."""
from __future__ import annotations

import random

from portal_common.consumer import _Acks


class Channel:
    """Plays RabbitMQ's side: the unacknowledged tags of a channel, and its precondition on every ack."""

    def __init__(self, delivered: int):
        self.unacked = set(range(1, delivered + 1))
        self.frames: list[tuple[int, bool]] = []

    def basic_ack(self, tag: int, multiple: bool = False) -> None:
        assert tag in self.unacked, f"PRECONDITION_FAILED - unknown delivery tag {tag}"
        self.frames.append((tag, multiple))
        self.unacked -= {t for t in self.unacked if t <= tag} if multiple else {tag}


def test_batches_finishing_in_order_cost_one_multiple_ack_each():
    channel = Channel(30)
    acks = _Acks(channel)
    for start in (1, 11, 21):
        acks.settle(range(start, start + 10))
    assert channel.frames == [(10, True), (20, True), (30, True)] and not channel.unacked


def test_a_batch_beyond_a_gap_is_acked_at_once_and_the_gap_closes_with_one_multiple_ack():
    channel = Channel(30)
    acks = _Acks(channel)
    acks.settle(range(11, 21))  # the first batch is still being applied
    assert channel.unacked == set(range(1, 11)) | set(range(21, 31))  # its prefetch credit is back at once
    acks.settle(range(1, 11))
    assert channel.frames[-1] == (10, True) and channel.unacked == set(range(21, 31))
    acks.settle(range(21, 31))
    assert channel.frames[-1] == (30, True) and not channel.unacked


def test_any_order_of_any_batches_acks_everything_exactly_once():
    rng = random.Random(5)
    for _ in range(200):
        tags = list(range(1, rng.randrange(2, 400)))
        batches, i = [], 0
        while i < len(tags):
            n = rng.randrange(1, 30)
            batches.append(tags[i:i + n])
            i += n
        rng.shuffle(batches)
        channel = Channel(len(tags))
        acks = _Acks(channel)
        for batch in batches:
            acks.settle(batch)
        assert not channel.unacked
