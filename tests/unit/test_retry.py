"""Retry timing: jitter bounds, exhaustion and Retry-After clamping."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stagehook.config import DEFAULT_RETRY_SCHEDULE
from stagehook.delivery.retry import (
    RETRY_AFTER_CAP_WHEN_IMMEDIATE,
    apply_retry_after,
    delay_for,
    parse_retry_after,
)

NOW = datetime(2024, 3, 25, 15, 18, 55, tzinfo=UTC)
schedules = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=12
)


@given(schedule=schedules, data=st.data(), jitter=st.floats(0, 1), seed=st.integers())
def test_delay_stays_within_jitter_of_schedule(
    schedule: list[float], data: st.DataObject, jitter: float, seed: int
) -> None:
    attempt = data.draw(st.integers(0, len(schedule) - 1))
    delay = delay_for(schedule, attempt, jitter, random.Random(seed))
    assert delay is not None
    base = schedule[attempt]
    assert base * (1 - jitter) - 1e-6 <= delay <= base * (1 + jitter) + 1e-6
    assert delay >= 0


@given(schedule=schedules, extra=st.integers(0, 100), seed=st.integers())
def test_exhausted_schedule_means_failed(schedule: list[float], extra: int, seed: int) -> None:
    assert delay_for(schedule, len(schedule) + extra, 0.2, random.Random(seed)) is None


def test_default_schedule_without_jitter_is_the_schedule() -> None:
    rng = random.Random(1)
    delays = [delay_for(DEFAULT_RETRY_SCHEDULE, n, 0, rng) for n in range(10)]
    assert delays == [*DEFAULT_RETRY_SCHEDULE, None, None]
    assert delays[0] == 0  # the first attempt goes out immediately


def test_jitter_actually_spreads_retries() -> None:
    rng = random.Random(7)
    delays = {delay_for([0, 300], 1, 0.2, rng) for _ in range(20)}
    assert len(delays) > 10


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        delay_for([1], -1, 0.2, random.Random())
    with pytest.raises(ValueError):
        delay_for([1], 0, 1.5, random.Random())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("-3", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
        ("Mon, 25 Mar 2024 15:20:55 GMT", 120.0),
        ("Mon, 25 Mar 2024 15:00:00 GMT", 0.0),
        ("Mon, 32 Foo 2024 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@given(st.integers(0, 10**6))
def test_http_dates_round_trip(seconds: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after(header, NOW) == seconds


@given(
    scheduled=st.floats(min_value=0.001, max_value=1e6, allow_nan=False),
    retry_after=st.floats(min_value=0, max_value=1e8, allow_nan=False),
)
def test_retry_after_is_clamped_to_one_or_two_times_schedule(
    scheduled: float, retry_after: float
) -> None:
    delay = apply_retry_after(scheduled, retry_after)
    assert scheduled <= delay <= 2 * scheduled
    if scheduled <= retry_after <= 2 * scheduled:
        assert delay == retry_after


@given(retry_after=st.floats(min_value=0, max_value=1e8, allow_nan=False))
def test_retry_after_with_immediate_schedule_is_capped(retry_after: float) -> None:
    delay = apply_retry_after(0, retry_after)
    assert delay == min(retry_after, RETRY_AFTER_CAP_WHEN_IMMEDIATE)


def test_no_retry_after_keeps_schedule() -> None:
    assert apply_retry_after(300, None) == 300
    assert apply_retry_after(0, None) == 0
