"""
The provider's one retry policy, for Asana API calls and export downloads alike, built on tenacity.

The entry point is :meth:`RetryPolicy.call`: it calls a function (or awaits a coroutine function) until it
succeeds or the policy gives up. What may be retried is the caller's :class:`RetryRule`; when, and for how
long, is the policy's, the same for every caller:

- between attempts it sleeps what the failure's ``Retry-After`` asks, else a jittered exponential backoff:
  a random wait of up to ``retry_backoff`` x 2^(n-1) seconds, at most :data:`MAX_BACKOFF`, where n counts
  the failures in a row without progress;
- it gives up after the rule's limit of failures in a row without progress (``max_attempts`` for an API
  request, ``max_download_stalls`` for a download), after the rule's cap on attempts in all, or rather than
  start a sleep that would take the time slept since the last progress past the rule's budget
  (``max_retry_wait``, or ``max_busy_workspace_wait`` for an export create refused because another export of
  the workspace is in progress), so a ``Retry-After`` longer than what is left fails at once, and says so;
- a failure that made progress (a download that got further) is retried at once, and the count starts
  again; a failure the next attempt fixes by itself (an expired download URL: the next attempt gets a fresh
  one) is retried at once the first time.

An API request never makes progress: for it, this reads "at most ``max_attempts`` attempts and
``max_retry_wait`` seconds of sleep in all".
"""

from __future__ import annotations

import email.utils
import inspect
import math
import random
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

import tenacity

from airflow_provider_asana.exceptions import AsanaAPIError, AsanaTransportError

if TYPE_CHECKING:
    from airflow_provider_asana.connection import ConnectionSettings

P = ParamSpec("P")
T = TypeVar("T")

#: Methods that may be repeated after a failure whatever happened to the first try.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Statuses retried for idempotent calls (and downloads).
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses retried for POST: those where Asana provably did nothing (rate limited, unavailable).
RETRYABLE_POST_STATUSES = frozenset({429, 503})
#: Longest backoff between two attempts, seconds (a ``Retry-After`` may ask for longer).
MAX_BACKOFF = 60.0
#: ``Retry-After`` as delta-seconds (a fraction allowed: the emulator sends them).
_DELTA_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")

#: Why the policy gave up (:attr:`RetryStatus.reason`).
LIMIT, CAP, BUDGET = "limit", "cap", "budget"


def is_retryable(method: str, error: BaseException) -> bool:
    """
    Tell whether an API request with ``method`` may be repeated after ``error``.

    A request that never reached Asana may always be repeated; one that may have been acted on only if its
    method is idempotent. An HTTP error answer is retried per :data:`RETRYABLE_STATUSES` for idempotent
    methods and per :data:`RETRYABLE_POST_STATUSES` otherwise.
    """
    if isinstance(error, AsanaTransportError):
        return error.kind == "connect" or method in IDEMPOTENT_METHODS
    if isinstance(error, AsanaAPIError) and error.status_code is not None:
        allowed = RETRYABLE_STATUSES if method in IDEMPOTENT_METHODS else RETRYABLE_POST_STATUSES
        return error.status_code in allowed
    return False


def parse_retry_after(value: str | None, date: str | None = None) -> float | None:
    """
    Return the seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; None if unusable.

    An HTTP-date is measured from the response's own ``Date`` header when it has one, so that a skew between
    the server's clock and ours does not change the wait; from our clock otherwise. A date in the past
    means no wait. ``nan``, ``inf``, negative numbers and anything unparsable give ``None``: the backoff
    applies instead. The API calls and the download share this one parser.

    :param value: The ``Retry-After`` header, if any.
    :param date: The response's ``Date`` header, if any.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    until = _http_date(value)
    if until is None:
        return None
    now = _http_date(date) if date else None
    return max(0.0, (until - (now or datetime.now(timezone.utc))).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def retry_after_over_budget(who: str, wait: float, left: float, budget: float) -> str:
    """
    Return the message for a ``Retry-After`` longer than the retry budget allows: what was asked, and the fix.

    :param who: Who asked, e.g. ``"Asana"`` or the download host.
    :param wait: Seconds asked for.
    :param left: Seconds of the ``max_retry_wait`` budget not yet slept.
    :param budget: The connection's ``max_retry_wait``.
    """
    room = f"the {left:g} s left of the" if left < budget else "the"
    return (
        f"{who} asked to wait {wait:g} s before trying again (Retry-After), more than {room} "
        f"connection's retry budget of {budget:g} s, so it was not retried. Raise the connection's "
        f"max_retry_wait extra to at least {math.ceil(budget - left + wait)}, or retry later."
    )


@dataclass(frozen=True)
class RetryStatus:
    """
    Where the retries of one call stand, as a :class:`RetryRule` is told about them.

    :param failures: Failures in a row without progress, the last included.
    :param attempts: Attempts made so far.
    :param limit: The failures in a row that end the retries.
    :param wait: The sleep before the next attempt (when giving up: the one not started).
    :param left: Seconds of the budget not yet slept.
    :param budget: The seconds of sleep the rule allows: the connection's ``max_retry_wait`` unless the rule
        says otherwise (:meth:`RetryRule.budget`).
    :param reason: When giving up: :data:`LIMIT`, :data:`CAP` or :data:`BUDGET`; else None.
    """

    failures: int
    attempts: int
    limit: int
    wait: float
    left: float
    budget: float
    reason: str | None = None

    def over_budget(self, who: str) -> str:
        """Return the message for a ``Retry-After`` that did not fit: :func:`retry_after_over_budget`."""
        return retry_after_over_budget(who, self.wait, self.left, self.budget)


class RetryRule:
    """
    What one kind of call adds to the policy: which failures it retries, what progress is, what it says.

    Subclasses override what they need; the defaults retry nothing, count attempts against ``max_attempts``
    and re-raise the last failure when giving up.
    """

    #: Attempts in all after which the policy gives up whatever the progress (None: no such cap).
    cap: int | None = None

    def limit(self, policy: RetryPolicy) -> int:
        """Return how many failures in a row without progress end the retries."""
        return policy.max_attempts

    def budget(self, policy: RetryPolicy) -> float:
        """Return the seconds the call may sleep between attempts without progress: ``max_retry_wait``."""
        return policy.max_retry_wait

    def retryable(self, error: BaseException) -> bool:
        """Tell whether the call may be attempted again after ``error``."""
        return False

    def progressed(self, error: BaseException) -> bool:
        """Tell whether the attempt that failed with ``error`` still got further than any before it."""
        return False

    def fixed_by_next_attempt(self, error: BaseException) -> bool:
        """Tell whether the next attempt fixes ``error`` by itself: it then starts at once, the first time."""
        return False

    def retrying(self, error: BaseException, status: RetryStatus) -> None:
        """Report that ``error`` is retried in ``status.wait`` seconds (a log line)."""

    def give_up(self, error: BaseException, status: RetryStatus) -> BaseException | None:
        """Return the error to raise (from ``error``) when the policy gives up; None raises ``error``."""
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """
    How often and for how long the provider retries: the connection's retry extras (see the module's doc).

    :param max_attempts: Attempts per API request, the first included.
    :param max_retry_wait: Seconds one call may sleep in all between attempts without progress.
    :param retry_backoff: Base of the jittered exponential backoff, seconds.
    :param max_download_stalls: Download requests in a row without progress before a download fails.
    """

    max_attempts: int
    max_retry_wait: float
    retry_backoff: float
    max_download_stalls: int

    @classmethod
    def from_settings(cls, settings: ConnectionSettings) -> RetryPolicy:
        """Build the policy of a parsed ``asana`` connection."""
        return cls(
            max_attempts=settings.max_attempts,
            max_retry_wait=settings.max_retry_wait,
            retry_backoff=settings.retry_backoff,
            max_download_stalls=settings.max_download_stalls,
        )

    @overload
    def call(
        self,
        rule: RetryRule,
        fn: Callable[P, Coroutine[Any, Any, T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def call(self, rule: RetryRule, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...

    def call(self, rule: RetryRule, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """
        Call ``fn(*args, **kwargs)`` until it succeeds or the policy gives up: the one way to retry.

        The hook's sync and async API calls and the download engine all go through here. For a coroutine
        function, this returns a coroutine to await (tenacity's ``AsyncRetrying``, which sleeps with
        ``asyncio.sleep``); otherwise it runs to the end (``Retrying``, ``time.sleep``).

        :param rule: Which failures are retried, what counts as progress, how retries are reported.
        :param fn: The attempt.
        :return: What ``fn`` returned.
        :raises BaseException: A failure ``rule`` does not retry, at once; when the policy gives up, the last
            failure or what :meth:`RetryRule.give_up` makes of it.
        """
        arguments = _Retries(self, rule).tenacity_arguments()
        if inspect.iscoroutinefunction(fn):
            return tenacity.AsyncRetrying(**arguments)(fn, *args, **kwargs)
        return tenacity.Retrying(**arguments)(fn, *args, **kwargs)

    def backoff(self, failures: int) -> float:
        """Return a random wait of up to ``retry_backoff`` x 2^(failures-1) s, at most :data:`MAX_BACKOFF`."""
        high = min(MAX_BACKOFF, self.retry_backoff * 2.0 ** min(failures - 1, 64))
        return random.uniform(0.0, high)


class _Retries:
    """The tenacity hooks of one :meth:`RetryPolicy.call`, sharing its count of failures in a row."""

    def __init__(self, policy: RetryPolicy, rule: RetryRule) -> None:
        self.policy = policy
        self.rule = rule
        self.limit = rule.limit(policy)
        self.budget = rule.budget(policy)
        self.failures = 0
        self.slept_before_progress = 0.0  # tenacity's idle_for when progress was last made
        self.reason: str | None = None

    def tenacity_arguments(self) -> dict[str, Any]:
        return {
            "retry": tenacity.retry_if_exception(self.rule.retryable),
            "after": self._count,
            "wait": self._wait,
            "stop": self._stop,
            "before_sleep": self._retrying,
            "retry_error_callback": self._give_up,
        }

    def _count(self, state: tenacity.RetryCallState) -> None:
        if self.rule.progressed(_error(state)):
            self.failures = 0
            self.slept_before_progress = state.idle_for
        else:
            self.failures += 1

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = _error(state)
        if self.failures == 0 or (self.failures == 1 and self.rule.fixed_by_next_attempt(error)):
            return 0.0
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return self.policy.backoff(self.failures)

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        slept = state.idle_for - self.slept_before_progress
        if self.failures >= self.limit:
            self.reason = LIMIT
        elif self.rule.cap is not None and state.attempt_number >= self.rule.cap:
            self.reason = CAP
        elif slept + state.upcoming_sleep > self.budget:
            self.reason = BUDGET
        return self.reason is not None

    def _status(self, state: tenacity.RetryCallState, slept: float) -> RetryStatus:
        budget = self.budget
        left = max(0.0, budget - (slept - self.slept_before_progress))
        return RetryStatus(
            self.failures, state.attempt_number, self.limit, state.upcoming_sleep, left, budget, self.reason
        )

    def _retrying(self, state: tenacity.RetryCallState) -> None:
        # tenacity has added the coming sleep to idle_for already.
        self.rule.retrying(_error(state), self._status(state, state.idle_for - state.upcoming_sleep))

    def _give_up(self, state: tenacity.RetryCallState) -> Any:
        error = _error(state)
        replacement = self.rule.give_up(error, self._status(state, state.idle_for))
        if replacement is None:
            return state.outcome.result() if state.outcome is not None else None  # re-raises ``error``
        raise replacement from error


def _error(state: tenacity.RetryCallState) -> BaseException:
    """Return the failure of the attempt that just ended (tenacity calls these hooks only after one)."""
    error = state.outcome.exception() if state.outcome is not None else None
    if error is None:
        raise RuntimeError("tenacity called a retry hook without a failed attempt")
    return error
