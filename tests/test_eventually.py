"""The tests' one wait: returns the first truthy value, fails naming what it waited for."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from tests.eventually import eventually, eventually_async


def test_returns_the_first_truthy_value_as_soon_as_it_comes() -> None:
    tries = itertools.count()
    values: Iterator[object] = iter([None, 0, [], "the reply", "later"])
    assert eventually(lambda: (next(tries), next(values))[1], 5, interval=0.001) == "the reply"
    assert next(tries) == 4  # tried four times, no more


def test_fails_saying_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError) as failure:
        eventually(lambda: [], 0.05, "the door of slot 3 to open", interval=0.01)
    assert str(failure.value) == "waited 0.05 s for the door of slot 3 to open; last value: []"


def test_without_a_description_the_predicate_s_source_names_it() -> None:
    opened: list[int] = []
    with pytest.raises(AssertionError) as failure:
        eventually(lambda: 3 in opened, 0.02)
    assert "waited 0.02 s for " in str(failure.value)
    assert "lambda: 3 in opened" in str(failure.value)
    assert str(failure.value).endswith("last value: False")


def test_tries_once_more_at_the_deadline() -> None:
    # The sleep is cut short at the deadline and the condition tried then: a condition that
    # holds by the deadline passes, however long the polling interval.
    tries = itertools.count()
    assert eventually(lambda: next(tries) >= 1, 0.05, interval=60.0)


def test_a_broken_check_fails_at_once_not_at_the_deadline() -> None:
    with pytest.raises(ZeroDivisionError):
        eventually(lambda: 1 / 0, 60)


def test_the_async_form_lets_the_loop_run_between_tries() -> None:
    async def scenario() -> str:
        box: list[str] = []

        async def later() -> None:
            await asyncio.sleep(0.05)
            box.append("published")

        task = asyncio.create_task(later())
        got = await eventually_async(lambda: box[0] if box else None, 5, "the publish")
        await task
        with pytest.raises(AssertionError, match=r"waited 0\.03 s for nothing; last value: \[\]"):
            await eventually_async(lambda: [], 0.03, "nothing")
        return got

    assert asyncio.run(scenario()) == "published"
