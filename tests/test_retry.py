"""The one retry policy on its own: what it counts, when it sleeps, when it gives up, sync and async."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_asana.retry import BUDGET, CAP, LIMIT, RetryPolicy, RetryRule, RetryStatus

POLICY = RetryPolicy(max_attempts=3, max_retry_wait=300, retry_backoff=1.0, max_download_stalls=3)


class Failure(Exception):
    """A retryable failure; what it says about progress, its fix and Retry-After is up to the test."""

    def __init__(self, *, progressed: bool = False, fresh: bool = False, retry_after: float | None = None):
        super().__init__("failed")
        self.progressed = progressed
        self.fresh = fresh
        self.retry_after = retry_after


class Rule(RetryRule):
    """Retries :class:`Failure` and records what the policy tells it."""

    def __init__(self, cap: int | None = None, replacement: BaseException | None = None) -> None:
        self.cap = cap
        self.replacement = replacement
        self.retried: list[RetryStatus] = []
        self.gave_up: RetryStatus | None = None

    def retryable(self, error: BaseException) -> bool:
        return isinstance(error, Failure)

    def progressed(self, error: BaseException) -> bool:
        return isinstance(error, Failure) and error.progressed

    def fixed_by_next_attempt(self, error: BaseException) -> bool:
        return isinstance(error, Failure) and error.fresh

    def retrying(self, error: BaseException, status: RetryStatus) -> None:
        self.retried.append(status)

    def give_up(self, error: BaseException, status: RetryStatus) -> BaseException | None:
        self.gave_up = status
        return self.replacement


def attempts(*outcomes: BaseException):
    """Return a function that raises each outcome in turn, then returns "done"; it counts its calls."""
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= len(outcomes):
            raise outcomes[len(calls) - 1]
        return "done"

    attempt.calls = calls  # type: ignore[attr-defined]
    return attempt


@pytest.fixture
def sleeps(mocker):
    """Tenacity sleeps through time.sleep: record the waits instead of waiting."""
    return mocker.patch("time.sleep")


def waits(sleeps) -> list[float]:
    return [call.args[0] for call in sleeps.call_args_list]


def test_failures_without_progress_stop_at_the_limit(sleeps):
    rule = Rule()
    attempt = attempts(*[Failure() for _ in range(10)])

    with pytest.raises(Failure):
        POLICY.call(rule, attempt)

    assert len(attempt.calls) == 3
    assert rule.gave_up is not None
    assert (rule.gave_up.reason, rule.gave_up.failures, rule.gave_up.limit) == (LIMIT, 3, 3)
    assert [(s.attempts, s.failures) for s in rule.retried] == [(1, 1), (2, 2)]
    first, second = waits(sleeps)
    assert 0 <= first <= 1.0  # retry_backoff x 2^0, jittered
    assert 0 <= second <= 2.0  # retry_backoff x 2^1, jittered


def test_progress_is_retried_at_once_and_starts_the_count_again(sleeps):
    rule = Rule()
    outcomes = [*(Failure(progressed=True) for _ in range(4)), Failure(retry_after=7), Failure(retry_after=7)]
    attempt = attempts(*outcomes)

    assert POLICY.call(rule, attempt) == "done"

    assert len(attempt.calls) == 7  # six failures, more than the limit of 3, but never 3 in a row
    assert waits(sleeps) == [0.0, 0.0, 0.0, 0.0, 7.0, 7.0]
    assert [s.failures for s in rule.retried] == [0, 0, 0, 0, 1, 2]


def test_a_failure_the_next_attempt_fixes_is_retried_at_once_only_the_first_time(sleeps):
    attempt = attempts(Failure(fresh=True, retry_after=5), Failure(fresh=True, retry_after=5))

    assert POLICY.call(Rule(), attempt) == "done"

    assert waits(sleeps) == [0.0, 5.0]


def test_the_cap_stops_even_a_call_that_keeps_progressing(sleeps):
    rule = Rule(cap=4)
    attempt = attempts(*[Failure(progressed=True) for _ in range(10)])

    with pytest.raises(Failure):
        POLICY.call(rule, attempt)

    assert len(attempt.calls) == 4
    assert rule.gave_up is not None
    assert rule.gave_up.reason == CAP


def test_the_wait_budget_counts_from_the_last_progress(sleeps):
    policy = RetryPolicy(max_attempts=10, max_retry_wait=10, retry_backoff=1.0, max_download_stalls=10)
    rule = Rule()
    outcomes = [
        Failure(retry_after=6),
        Failure(progressed=True),
        Failure(retry_after=6),
        Failure(retry_after=6),
    ]
    attempt = attempts(*outcomes)

    with pytest.raises(Failure):
        policy.call(rule, attempt)

    assert waits(sleeps) == [6.0, 0.0, 6.0]  # the second 6 s fits: progress came after the first
    assert rule.gave_up is not None
    assert (rule.gave_up.reason, rule.gave_up.wait, rule.gave_up.left) == (BUDGET, 6.0, 4.0)


def test_the_budget_is_not_renewed_without_progress(sleeps):
    policy = RetryPolicy(max_attempts=10, max_retry_wait=10, retry_backoff=1.0, max_download_stalls=10)
    rule = Rule()

    with pytest.raises(Failure):
        policy.call(rule, attempts(Failure(retry_after=6), Failure(retry_after=6)))

    assert waits(sleeps) == [6.0]
    assert rule.gave_up is not None
    assert (rule.gave_up.reason, rule.gave_up.left) == (BUDGET, 4.0)
    assert "the 4 s left of the connection's retry budget of 10 s" in rule.gave_up.over_budget("the host")


def test_a_failure_the_rule_does_not_retry_is_raised_at_once(sleeps):
    rule = Rule()
    attempt = attempts(KeyError("not retried"))

    with pytest.raises(KeyError, match="not retried"):
        POLICY.call(rule, attempt)

    assert len(attempt.calls) == 1
    assert not sleeps.called
    assert rule.gave_up is None


def test_giving_up_raises_the_rules_replacement_from_the_last_failure(sleeps):
    rule = Rule(replacement=RuntimeError("said better"))

    with pytest.raises(RuntimeError, match="said better") as raised:
        POLICY.call(rule, attempts(*[Failure() for _ in range(3)]))

    assert isinstance(raised.value.__cause__, Failure)


def test_a_coroutine_function_is_awaited_under_the_same_policy():
    rule = Rule()
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Failure(retry_after=0.01)
        return "done"

    assert asyncio.run(POLICY.call(rule, attempt)) == "done"
    assert len(calls) == 3
    assert [s.wait for s in rule.retried] == [0.01, 0.01]
