"""What an attempt's result decides, branch by branch."""

from __future__ import annotations

import random

import pytest

from stagehook.delivery.outcome import AttemptResult, decide

SCHEDULE = [0.0, 5.0, 300.0]


def _decide(result: AttemptResult, attempts: int, base: int = 0) -> tuple[str, float, str | None]:
    d = decide(
        result,
        attempts_made=attempts,
        retry_base=base,
        schedule=SCHEDULE,
        jitter=0.0,
        now=1000.0,
        rng=random.Random(1),
    )
    return d.status, d.next_attempt_at, d.disable_reason


def test_2xx_is_delivered() -> None:
    assert _decide(AttemptResult(204, 3.0), 1)[0] == "delivered"


@pytest.mark.parametrize("code", [None, 301, 400, 500])
def test_failures_follow_the_schedule_then_fail(code: int | None) -> None:
    result = AttemptResult(code, 1.0, "x", "boom")
    assert _decide(result, 1) == ("retrying", 1005.0, None)
    assert _decide(result, 2) == ("retrying", 1300.0, None)
    assert _decide(result, 3)[0] == "failed"


def test_manual_retry_restarts_the_schedule() -> None:
    result = AttemptResult(500, 1.0)
    assert _decide(result, 4, base=3) == ("retrying", 1005.0, None)


def test_410_fails_and_disables() -> None:
    status, _, reason = _decide(AttemptResult(410, 1.0), 1)
    assert status == "failed" and reason is not None and "410" in reason


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(1.0, 1005.0), (7.0, 1007.0), (3600.0, 1010.0)]
)
def test_retry_after_is_clamped_to_1x_2x(retry_after: float, expected: float) -> None:
    result = AttemptResult(429, 1.0, retry_after=retry_after)
    assert _decide(result, 1)[1] == expected


def test_retry_after_ignored_for_other_codes() -> None:
    assert _decide(AttemptResult(500, 1.0, retry_after=100.0), 1)[1] == 1005.0
