"""The one backoff policy every reconnect, reopen and restart loop waits by."""

from __future__ import annotations

import random

import pytest

from protocols.backoff import RECONNECT, REOPEN, RESTART, Backoff, BackoffPolicy, backoff_s


def test_waits_grow_from_the_minimum_to_the_cap_with_full_jitter() -> None:
    rng = random.Random(1)
    policy = BackoffPolicy(min_s=1.0, max_s=30.0)
    first = [policy.wait_s(1, rng) for _ in range(500)]
    assert min(first) >= 1.0 and max(first) <= 2.0  # the first retry comes quickly
    late = [policy.wait_s(n, rng) for n in range(10, 2000)]
    assert min(late) >= 1.0 and max(late) <= 30.0
    # Full jitter: a crowd that failed together spreads over the whole range, not at the cap.
    assert min(late) < 30.0 / 4 and max(late) > 30.0 * 3 / 4


def test_the_count_starts_over_after_a_success() -> None:
    backoff = Backoff(BackoffPolicy(min_s=0.5, max_s=4.0), random.Random(2))
    waits = [backoff.failed() for _ in range(6)]
    assert backoff.failures == 6 and max(waits) <= 4.0
    backoff.succeeded()
    assert backoff.failures == 0 and backoff.failed() <= 1.0


def test_the_same_seed_gives_the_same_waits() -> None:
    one, two = Backoff(RECONNECT, random.Random(7)), Backoff(RECONNECT, random.Random(7))
    assert [one.failed() for _ in range(20)] == [two.failed() for _ in range(20)]
    assert backoff_s(3, 1.0, 30.0, random.Random(3)) == RECONNECT.wait_s(3, random.Random(3))


def test_the_named_policies_and_bad_bounds() -> None:
    assert RECONNECT.max_s == 30.0  # protocols/backoff.py: the storm benchmark's choice
    assert REOPEN.min_s == RESTART.min_s == 0.5
    with pytest.raises(ValueError, match="min_s"):
        BackoffPolicy(min_s=0, max_s=1)
    with pytest.raises(ValueError, match="below min_s"):
        BackoffPolicy(min_s=2, max_s=1)
