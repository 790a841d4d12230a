"""
The transport-neutral half of the Asana client: request building, error mapping, retry policy.

The sync path (``requests``) and the async path (``httpx``) both go through these functions, so
they send the same requests, raise the same errors and retry the same way.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import tenacity

from airflow_provider_asana import __version__
from airflow_provider_asana.exceptions import ERRORS_DOC, AsanaAPIError, AsanaTransportError
from airflow_provider_asana.hooks._settings import ConnectionSettings

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Statuses retried for idempotent calls.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses retried for POST: those where Asana provably did nothing (rate limited, unavailable).
RETRYABLE_POST_STATUSES = frozenset({429, 503})
MAX_BACKOFF = 60.0


def user_agent() -> str:
    """The ``User-Agent`` sent to Asana: the provider, its version, Airflow's and Python's."""
    from airflow import __version__ as airflow_version

    return (
        f"airflow-provider-asana/{__version__} apache-airflow/{airflow_version} "
        f"python/{platform.python_version()}"
    )


@dataclass(frozen=True)
class ApiRequest:
    """One Asana API call, ready for either transport. Headers (with the token) stay out of ``repr``."""

    method: str
    url: str
    path: str
    params: dict[str, str]
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    base_url: str = ""

    @property
    def description(self) -> str:
        return f"Asana {self.method} {self.path}"


def build_request(
    settings: ConnectionSettings,
    method: str,
    endpoint: str,
    *,
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
) -> ApiRequest:
    """
    Build an :class:`ApiRequest` against the connection's base URL.

    :param endpoint: Path below the base URL, e.g. ``/organization_exports``.
    :param params: Query parameters; ``None`` values are dropped, booleans sent as ``true``/``false``,
        lists joined with commas (Asana's ``opt_fields`` form).
    """
    method = method.upper()
    path = "/" + endpoint.lstrip("/")
    query: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        query[key] = str(value)
    headers = {
        "Authorization": f"Bearer {settings.token}",
        "Accept": "application/json",
        "User-Agent": user_agent(),
    }
    if json_body is not None:
        headers["Content-Type"] = "application/json"
    return ApiRequest(method, settings.base_url + path, path, query, json_body, headers, settings.base_url)


_ADVICE = {
    401: "The token is invalid, expired or revoked: put a valid personal access token, service-account "
    "token or OAuth access token in the connection's password.",
    402: "Organization exports need an Enterprise (or Enterprise+) organization and a service-account "
    "token of that organization: check the organization gid and use a service account's token.",
    403: "Organization exports need an Enterprise (or Enterprise+) organization and a service-account "
    "token of that organization: check the organization gid and use a service account's token.",
    404: "Check the gid: an organization gid comes from AsanaHook().list_workspaces(); an export gid "
    "comes from the create call (Asana has no way to list exports).",
    400: "Asana rejected the request's parameters: fix the value Asana names above.",
    429: "Asana kept rate-limiting this token past the retry budget: raise the connection's "
    "max_retry_wait/max_attempts extras, or run fewer Asana tasks at once.",
    451: "Asana refuses this request for legal reasons; contact your Asana administrator.",
}
_HTML_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
#: ``Retry-After`` as delta-seconds (a fraction allowed: the emulator sends them).
_DELTA_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


def _advice(request: ApiRequest, status: int, phrase: str | None) -> str:
    if status >= 500:
        quote = f" quoting the phrase {phrase!r}" if phrase else ""
        return f"Asana had a server error; retry later, and if it persists contact Asana support{quote}."
    advice = _ADVICE.get(status, f"See {ERRORS_DOC}.")
    if status == 404 and not urlsplit(request.base_url).path.rstrip("/").endswith("/api/1.0"):
        advice = (
            f"The connection's API base URL is {request.base_url}, without Asana's /api/1.0 path: unless "
            "that is on purpose, set the connection's host to a URL ending in /api/1.0 (e.g. "
            f"https://app.asana.com/api/1.0) or leave it empty for Asana itself. Otherwise: {advice}"
        )
    return advice


def sentence(text: str) -> str:
    """``text`` ending in exactly one full stop (or its own ``?`` / ``!``): for joining messages."""
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name) or headers.get(name.lower())


def parse_retry_after(value: str | None, date: str | None = None) -> float | None:
    """
    Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; ``None`` if unusable.

    An HTTP-date is measured from the response's own ``Date`` header when it has one, so that a skew between
    the server's clock and ours does not change the wait; from our clock otherwise. A date in the past
    means no wait. ``nan``, ``inf``, negative numbers and anything unparsable give ``None``: the caller's
    backoff applies instead. The API calls and the download share this one parser.

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
    The message for a ``Retry-After`` longer than the retry budget allows: what was asked, and the fix.

    :param who: Who asked, e.g. ``"Asana"``.
    :param wait: Seconds asked for.
    :param left: Seconds of the budget not yet slept.
    :param budget: The connection's ``max_retry_wait``.
    """
    room = f"the {left:g} s left of the" if left < budget else "the"
    return (
        f"{who} asked to wait {wait:g} s before trying again (Retry-After), more than {room} "
        f"connection's retry budget of {budget:g} s, so it was not retried. Raise the connection's "
        f"max_retry_wait extra to at least {math.ceil(budget - left + wait)}, or retry later."
    )


def error_from_response(
    request: ApiRequest, status: int, headers: Mapping[str, str], content: bytes
) -> AsanaAPIError:
    """Turn an HTTP error answer (JSON from Asana, or anything a proxy sends) into an AsanaAPIError."""
    messages: list[str] = []
    phrase: str | None = None
    try:
        body = json.loads(content)
    except ValueError:
        said = _not_json(headers, content)
    else:
        errors = body.get("errors") if isinstance(body, dict) else None
        for item in errors if isinstance(errors, list) else []:
            if isinstance(item, dict):
                if item.get("message"):
                    messages.append(str(item["message"]))
                phrase = phrase or item.get("phrase")
        if messages:
            said = "; ".join(messages)
        elif isinstance(body, dict):
            said = "nothing (an error body without messages)"
        else:
            said = f"nothing (a JSON {json_type(body)} body)"
    message = (
        f"{request.description} failed with HTTP {status}. Asana said: {sentence(said)} "
        f"{_advice(request, status, phrase)}"
    )
    if phrase:
        message += f" (phrase: {phrase})"
    retry_after = parse_retry_after(_header(headers, "Retry-After"), _header(headers, "Date"))
    return AsanaAPIError(
        message, status_code=status, messages=messages, phrase=phrase, retry_after=retry_after
    )


def _not_json(headers: Mapping[str, str], content: bytes) -> str:
    kind = _header(headers, "Content-Type") or "no content type"
    text = content.decode("utf-8", "replace")
    text = _SPACES.sub(" ", _HTML_TAG.sub(" ", text)).strip()
    return f"a non-JSON {kind} body: {text[:200]!r}" if text else f"an empty body ({kind})"


def json_type(value: Any) -> str:
    """JSON's name for the type of a decoded value: null, boolean, string, array, object or number."""
    if value is None:
        return "null"
    return {bool: "boolean", str: "string", list: "array", dict: "object"}.get(type(value), "number")


def parse_response(request: ApiRequest, status: int, headers: Mapping[str, str], content: bytes) -> dict:
    """Return the decoded JSON body of a success answer, or raise the mapped :class:`AsanaAPIError`."""
    if status >= 400:
        raise error_from_response(request, status, headers, content)
    try:
        body = json.loads(content)
    except ValueError:
        raise error_from_response(request, status, headers, content) from None
    if not isinstance(body, dict):
        raise AsanaAPIError(
            f"{request.description} answered HTTP {status} with a JSON {json_type(body)} body, not Asana's "
            f"{{\"data\": ...}} object. {NOT_ASANA_ADVICE}",
            status_code=status,
        )
    return body


#: Advice for an answer that does not look like Asana's.
NOT_ASANA_ADVICE = (
    "Check that the connection's host is Asana's API (empty, or https://app.asana.com/api/1.0) and not a "
    "proxy or login page; if it is, retry later and contact Asana support if it persists."
)


def transport_error(request: ApiRequest, kind: str, cause: BaseException) -> AsanaTransportError:
    """Map a transport failure (no HTTP answer) to :class:`AsanaTransportError`."""
    base = urlsplit(request.base_url or request.url)
    what = {
        "connect": f"could not connect to {base.scheme}://{base.netloc}",
        "timeout": "got no answer in time",
        "disconnect": "lost the connection before the answer arrived",
    }[kind]
    message = sentence(f"{request.description} {what}: {type(cause).__name__}: {cause}")
    if request.method not in IDEMPOTENT_METHODS and kind != "connect":
        if request.path.rstrip("/") == "/organization_exports":
            message += (
                " The request had been sent, so Asana may have started an organization export; it was "
                "not repeated. A retry of AsanaCreateOrganizationExportOperator fails for the same reason "
                "instead of starting a second export, unless resubmit_if_in_doubt=True: set that only once "
                "you know no export of this organization is running (Asana cannot list exports)."
            )
        else:
            message += " The request had been sent, so Asana may have acted on it; it was not repeated."
    return AsanaTransportError(message, kind=kind)


def is_retryable(method: str, exc: BaseException) -> bool:
    """The retry policy: what may be repeated for ``method`` after ``exc``."""
    if isinstance(exc, AsanaTransportError):
        return exc.kind == "connect" or method in IDEMPOTENT_METHODS
    if isinstance(exc, AsanaAPIError) and exc.status_code is not None:
        allowed = RETRYABLE_STATUSES if method in IDEMPOTENT_METHODS else RETRYABLE_POST_STATUSES
        return exc.status_code in allowed
    return False


class _WaitPolicy(tenacity.wait.wait_base):
    """``Retry-After`` when Asana sends one, jittered exponential backoff otherwise."""

    def __init__(self, backoff: float) -> None:
        self._exponential = tenacity.wait_random_exponential(multiplier=backoff, max=MAX_BACKOFF)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return retry_after
        return self._exponential(retry_state)


def retry_kwargs(settings: ConnectionSettings, request: ApiRequest, sleep: Callable | None = None) -> dict[str, Any]:
    """
    Keyword arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike.

    Attempts are bounded by ``max_attempts``; the total time slept by ``max_retry_wait`` (no sleep is
    started that would take it past that). The last error is re-raised as it is.
    """

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: %s Retrying in %.1f s (attempt %d of %d).",
            request.description,
            _first_sentence(exc),
            state.upcoming_sleep,
            state.attempt_number,
            settings.max_attempts,
        )

    def give_up(state: tenacity.RetryCallState) -> Any:
        """Re-raise the last error; a Retry-After that did not fit the budget gets a message that says so."""
        assert state.outcome is not None
        exc = state.outcome.exception()
        wait = getattr(exc, "retry_after", None)
        left = max(0.0, settings.max_retry_wait - state.idle_for)
        out_of_time = wait is not None and wait > left and state.attempt_number < settings.max_attempts
        if isinstance(exc, AsanaAPIError) and out_of_time:
            said = f" Asana said: {sentence('; '.join(exc.messages))}" if exc.messages else ""
            raise AsanaAPIError(
                f"{request.description} failed with HTTP {exc.status_code}.{said} "
                + retry_after_over_budget("Asana", wait, left, settings.max_retry_wait),
                status_code=exc.status_code,
                messages=exc.messages,
                phrase=exc.phrase,
                retry_after=wait,
            ) from exc
        return state.outcome.result()

    kwargs: dict[str, Any] = {
        "retry": tenacity.retry_if_exception(lambda exc: is_retryable(request.method, exc)),
        "wait": _WaitPolicy(settings.retry_backoff),
        "stop": tenacity.stop_after_attempt(settings.max_attempts) | _stop_before_wait_budget(settings.max_retry_wait),
        "retry_error_callback": give_up,
        "before_sleep": before_sleep,
    }
    if sleep is not None:
        kwargs["sleep"] = sleep
    return kwargs


def _stop_before_wait_budget(budget: float) -> Callable[[tenacity.RetryCallState], bool]:
    """Stop rather than start a sleep that would take the total time slept past ``budget``."""

    def stop(state: tenacity.RetryCallState) -> bool:
        return state.idle_for + state.upcoming_sleep > budget

    return stop


def _first_sentence(exc: BaseException | None) -> str:
    if isinstance(exc, AsanaAPIError) and exc.status_code is not None:
        return f"HTTP {exc.status_code}."
    return f"{type(exc).__name__}." if exc else ""
