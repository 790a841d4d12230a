"""
The transport-neutral half of the Asana client: request building, error mapping, retry policy.

The sync path (``requests``) and the async path (``httpx``) both go through these functions, so
they send the same requests, raise the same errors and retry the same way.
"""

from __future__ import annotations

import json
import logging
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    return ApiRequest(method, settings.base_url + path, path, query, json_body, headers)


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


def _advice(status: int, phrase: str | None) -> str:
    if status >= 500:
        quote = f" quoting the phrase {phrase!r}" if phrase else ""
        return f"Asana had a server error; retry later, and if it persists contact Asana support{quote}."
    return _ADVICE.get(status, f"See {ERRORS_DOC}.")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def error_from_response(
    request: ApiRequest, status: int, headers: Mapping[str, str], content: bytes
) -> AsanaAPIError:
    """Turn an HTTP error answer (JSON from Asana, or anything a proxy sends) into an AsanaAPIError."""
    messages: list[str] = []
    phrase: str | None = None
    try:
        body = json.loads(content)
        for item in body.get("errors") or []:
            if isinstance(item, dict):
                if item.get("message"):
                    messages.append(str(item["message"]))
                phrase = phrase or item.get("phrase")
        said = "; ".join(messages) if messages else "nothing (an error body without messages)"
    except (ValueError, AttributeError):
        text = content.decode("utf-8", "replace")
        text = _SPACES.sub(" ", _HTML_TAG.sub(" ", text)).strip()
        kind = headers.get("Content-Type") or headers.get("content-type") or "no content type"
        said = f"a non-JSON {kind} body: {text[:200]!r}"
    message = f"{request.description} failed with HTTP {status}. Asana said: {said}. {_advice(status, phrase)}"
    if phrase:
        message += f" (phrase: {phrase})"
    return AsanaAPIError(
        message, status_code=status, messages=messages, phrase=phrase, retry_after=_retry_after(headers)
    )


def parse_response(request: ApiRequest, status: int, headers: Mapping[str, str], content: bytes) -> dict:
    """Return the decoded JSON body of a success answer, or raise the mapped :class:`AsanaAPIError`."""
    if status >= 400:
        raise error_from_response(request, status, headers, content)
    try:
        body = json.loads(content)
    except ValueError:
        raise error_from_response(request, status, headers, content) from None
    if not isinstance(body, dict):
        raise AsanaAPIError(f"{request.description} answered HTTP {status} with an unexpected body.", status_code=status)
    return body


def transport_error(request: ApiRequest, kind: str, cause: BaseException) -> AsanaTransportError:
    """Map a transport failure (no HTTP answer) to :class:`AsanaTransportError`."""
    what = {
        "connect": f"could not connect to {request.url.split('/api/')[0]}",
        "timeout": "got no answer in time",
        "disconnect": "lost the connection before the answer arrived",
    }[kind]
    message = f"{request.description} {what}: {type(cause).__name__}: {cause}."
    if request.method not in IDEMPOTENT_METHODS and kind != "connect":
        message += (
            " The request had been sent, so Asana may have acted on it; it was not repeated, so that no "
            "second organization export is started silently. Wait for the first one, or retry the task."
        )
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

    kwargs: dict[str, Any] = {
        "retry": tenacity.retry_if_exception(lambda exc: is_retryable(request.method, exc)),
        "wait": _WaitPolicy(settings.retry_backoff),
        "stop": tenacity.stop_after_attempt(settings.max_attempts) | _stop_before_wait_budget(settings.max_retry_wait),
        "reraise": True,
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
