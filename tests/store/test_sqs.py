"""chalicelib/store/sqs.py: what a message's DelaySeconds counts from."""
from __future__ import annotations

from typing import Any

from chalicelib import runtime
from chalicelib.clock import now_ms
from chalicelib.store.models import Trigger
from chalicelib.store.runs import Occurrence
from chalicelib.store.sqs import EARLY_MS, Message


def test_the_delay_counts_from_the_send_not_from_the_ticks_start(aws: dict[str, str], fake_clock: Any) -> None:
    # Given a tick that started 5 s ago (a burst's later batches leave seconds after its first)
    queue = runtime.queue()
    sent: list[dict[str, Any]] = []
    original = queue.client.send_message_batch

    def recording(**kwargs: Any) -> Any:
        sent.extend(kwargs["Entries"])
        return original(**kwargs)

    queue.client.send_message_batch = recording  # the AWS client's call, recorded, then made
    try:
        started = now_ms() - 5_000
        due = now_ms() + 20_000
        occ = Occurrence("job-0123456789abcdef", f"run-{due:013d}-0123456789abcdef", due, Trigger.SCHEDULE, 1, 1)
        # When its message is sent now
        assert queue.send([Message(occ, due)], started) == []
    finally:
        del queue.client.send_message_batch
    # Then its delay is counted from now: it arrives EARLY_MS before its instant, not 5 s after
    assert sent[0]["DelaySeconds"] == (20_000 - EARLY_MS) // 1000
