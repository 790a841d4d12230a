"""
The transport-neutral half of the Asana client: request building, error mapping, and the API's retry rule.

The sync path (``requests``) and the async path (``httpx``, see ``_http``) both go through these functions,
so they send the same requests and raise the same errors; both retry through the one policy in
:mod:`airflow_provider_asana.retry`, with :class:`ApiRetry` saying what an API request may repeat.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_asana.exceptions import (
    ERRORS_DOC,
    AsanaAPIError,
    AsanaExportAlreadyRunningError,
    AsanaTransportError,
)
from airflow_provider_asana.gids import is_gid
from airflow_provider_asana.retry import (
    BUDGET,
    IDEMPOTENT_METHODS,
    RetryRule,
    RetryStatus,
    is_retryable,
    parse_retry_after,
)
from airflow_provider_asana.user_agent import user_agent

if TYPE_CHECKING:
    from airflow_provider_asana.connection import ConnectionSettings
    from airflow_provider_asana.retry import RetryPolicy

log = logging.getLogger(__name__)

#: The fields asked for by default: the OrganizationExport resource omits some unless asked.
EXPORT_FIELDS: tuple[str, ...] = ("created_at", "download_url", "organization", "organization.name", "state")
_EXPORT_KEYS = ("gid", "resource_type", "created_at", "state", "download_url", "organization")
#: The fields a job is read with by default: its status, and the export it delivers (download URL included).
JOB_FIELDS: tuple[str, ...] = (
    "resource_subtype",
    "status",
    *(
        f"{export}{field}"
        for export in ("new_resource_export", "new_graph_export")
        for field in ("", ".created_at", ".completed_at", ".download_url")
    ),
)
#: The endpoints that start a resource or graph export: Asana runs one export per workspace at a time.
EXPORT_JOB_ENDPOINTS = frozenset({"/exports/resource", "/exports/graph"})
#: What the create endpoints start, which operator starts it, and what "the same export" is scoped to.
_CREATES = {
    "/organization_exports": (
        "an organization export",
        "AsanaCreateOrganizationExportOperator",
        "organization",
    ),
    "/exports/resource": ("a resource export", "AsanaCreateResourceExportOperator", "workspace"),
    "/exports/graph": ("a graph export", "AsanaCreateGraphExportOperator", "parent object"),
}


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
        """Name the call in messages: ``Asana GET /users/me``."""
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
            query[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            query[key] = ",".join(str(v) for v in value)
        else:
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
_RESOURCE_EXPORT_ACCESS = (
    "Resource exports need a service-account token of an Enterprise+ organization, or of one with the "
    "Compliance Management add-on: check the workspace gid and use such a token."
)
_GRAPH_EXPORT_ACCESS = (
    "Graph exports need an Enterprise (or Enterprise+) organization and a token that can see the parent "
    "object: check the parent gid and the token."
)
#: Advice for the export-job endpoints, where it differs from :data:`_ADVICE`.
_ADVICE_BY_ENDPOINT = {
    "/exports/resource": {
        402: _RESOURCE_EXPORT_ACCESS,
        403: _RESOURCE_EXPORT_ACCESS,
        404: "Check the workspace gid: AsanaHook().list_workspaces() lists those the token sees.",
    },
    "/exports/graph": {
        402: _GRAPH_EXPORT_ACCESS,
        403: _GRAPH_EXPORT_ACCESS,
        404: "Check the parent gid: a goal, project, portfolio or team the token can see.",
    },
    "/jobs": {
        403: "The token may not read this job: read it with the connection whose token created the export.",
        404: "Check the job gid: it comes from the create call (Asana has no way to list jobs).",
    },
}
#: What Asana's 403 for a second export of a busy workspace says, as far as this provider relies on it: the
#: text is not documented, so any of these words in a 403 from an export-job create counts.
_ALREADY_RUNNING = re.compile(r"in[ -]progress|already|at a time|concurren|one export", re.IGNORECASE)
_BUSY_ADVICE = (
    "Another export of this workspace is in progress, and Asana runs one export per workspace at a time. Run "
    "the tasks that start exports of one workspace in an Airflow pool with one slot that counts deferred "
    "tasks (see the provider's docs, 'One export at a time per workspace'), or retry once the other export "
    "has ended."
)
_HTML_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def _endpoint(path: str) -> str:
    """Return the family of an API path for advice: ``/jobs`` for any job, else the path itself."""
    path = path.rstrip("/")
    return "/jobs" if path.startswith("/jobs/") else path


def is_export_already_running(request: ApiRequest, status: int, messages: Sequence[str]) -> bool:
    """
    Tell a 403 that refuses an export because another export of the workspace is running from any other 403.

    Asana documents the refusal (one in-progress export per workspace, HTTP 403) but not its message, so the
    rule is: the request is ``POST /exports/resource`` or ``POST /exports/graph``, the status is 403, and one
    of Asana's ``errors[].message`` texts mentions ``in progress``, ``already``, ``at a time``, concurrency
    or ``one export``. A 403 without such a message (a missing permission or plan, a proxy's page) is a
    permission error, never retried.

    :param request: The request that was refused.
    :param status: The HTTP status.
    :param messages: Asana's error messages.
    """
    return (
        status == 403
        and request.method == "POST"
        and _endpoint(request.path) in EXPORT_JOB_ENDPOINTS
        and any(_ALREADY_RUNNING.search(message) for message in messages)
    )


def _advice(request: ApiRequest, status: int, phrase: str | None) -> str:
    if status >= 500:
        quote = f" quoting the phrase {phrase!r}" if phrase else ""
        return f"Asana had a server error; retry later, and if it persists contact Asana support{quote}."
    advice = _ADVICE_BY_ENDPOINT.get(_endpoint(request.path), {}).get(status)
    advice = advice or _ADVICE.get(status, f"See {ERRORS_DOC}.")
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
    busy = is_export_already_running(request, status, messages)
    advice = _BUSY_ADVICE if busy else _advice(request, status, phrase)
    message = f"{request.description} failed with HTTP {status}. Asana said: {sentence(said)} {advice}"
    if phrase:
        message += f" (phrase: {phrase})"
    retry_after = parse_retry_after(_header(headers, "Retry-After"), _header(headers, "Date"))
    kind = AsanaExportAlreadyRunningError if busy else AsanaAPIError
    return kind(message, status_code=status, messages=messages, phrase=phrase, retry_after=retry_after)


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
            f'{{"data": ...}} object. {NOT_ASANA_ADVICE}',
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
        creates = _CREATES.get(request.path.rstrip("/"))
        if creates is not None:
            what, operator, scope = creates
            message += (
                f" The request had been sent, so Asana may have started {what}; it was not repeated. A retry "
                f"of {operator} fails for the same reason instead of starting a second export, unless "
                "resubmit_if_in_doubt=True: set that only once you know no export of this "
                f"{scope} is running (Asana cannot list exports)."
            )
        else:
            message += " The request had been sent, so Asana may have acted on it; it was not repeated."
    return AsanaTransportError(message, kind=kind)


def export_params(
    opt_fields: Sequence[str] | str | None, opt_pretty: bool, default: Sequence[str] = EXPORT_FIELDS
) -> dict[str, Any]:
    """Return the query of an export or job call: ``opt_fields`` (None: ``default``), ``opt_pretty``."""
    if opt_fields is None:
        opt_fields = default
    fields = opt_fields if isinstance(opt_fields, str) else ",".join(opt_fields)
    return {"opt_fields": fields or None, "opt_pretty": True if opt_pretty else None}


def export_from_answer(
    body: dict[str, Any], opt_fields: Sequence[str] | str | None, call: str
) -> dict[str, Any]:
    """Return the OrganizationExport in ``body``; raise :class:`AsanaAPIError` if there is none."""
    export = resource_from_answer(body, call, "export", "organization export")
    if opt_fields is None or opt_fields == EXPORT_FIELDS:
        for key in _EXPORT_KEYS:
            export.setdefault(key, None)
    return export


def job_from_answer(body: dict[str, Any], call: str) -> dict[str, Any]:
    """Return the Job in ``body``; raise :class:`AsanaAPIError` if there is none."""
    return resource_from_answer(body, call, "job", "job")


def resource_from_answer(body: dict[str, Any], call: str, noun: str, handle: str) -> dict[str, Any]:
    """
    Return the resource in ``body``'s ``data``, with its gid; raise :class:`AsanaAPIError` if there is none.

    :param call: The call, for the message, e.g. ``"GET /jobs/123"``.
    :param noun: What the resource is, e.g. ``"export"``, ``"job"``.
    :param handle: What its gid is called in the message, e.g. ``"organization export"``.
    """
    data = body.get("data")
    problem = _not_a_resource(data, noun)
    if problem or not isinstance(data, dict):
        raise AsanaAPIError(
            f"Asana {call} answered with {problem}: there is no {handle} gid. {NOT_ASANA_ADVICE}"
        )
    return dict(data)


def _not_a_resource(data: Any, noun: str) -> str | None:
    """Say what keeps an answer's ``data`` from being a resource with a gid; None if it is one."""
    if data is None:
        return "no 'data'"
    if not isinstance(data, dict):
        return f"a JSON {json_type(data)} as its 'data', not an object"
    article = "an" if noun[:1] in ("a", "e", "i", "o", "u") else "a"
    gid = data.get("gid")
    if gid is None:
        return f"{article} {noun} without a 'gid'"
    if not is_gid(gid):
        return f"{article} {noun} whose gid {gid!r:.40} is not a digit string"
    return None


class ApiRetry(RetryRule):
    """
    The retry rule of one API request: what :func:`~airflow_provider_asana.retry.is_retryable` allows.

    Up to ``max_attempts`` attempts; a ``Retry-After`` that does not fit the retry budget fails with a
    message that says how long Asana asked to wait and what to raise.
    """

    def __init__(self, request: ApiRequest) -> None:
        self.request = request

    def retryable(self, error: BaseException) -> bool:
        return is_retryable(self.request.method, error)

    def retrying(self, error: BaseException, status: RetryStatus) -> None:
        log.warning(
            "%s: %s Retrying in %.1f s (attempt %d of %d).",
            self.request.description,
            _first_sentence(error),
            status.wait,
            status.attempts,
            status.limit,
        )

    def give_up(self, error: BaseException, status: RetryStatus) -> BaseException | None:
        wait = getattr(error, "retry_after", None)
        if status.reason != BUDGET or wait is None or not isinstance(error, AsanaAPIError):
            return None
        said = f" Asana said: {sentence('; '.join(error.messages))}" if error.messages else ""
        return AsanaAPIError(
            f"{self.request.description} failed with HTTP {error.status_code}.{said} "
            + status.over_budget("Asana"),
            status_code=error.status_code,
            messages=error.messages,
            phrase=error.phrase,
            retry_after=wait,
        )


def _first_sentence(error: BaseException) -> str:
    if isinstance(error, AsanaAPIError) and error.status_code is not None:
        return f"HTTP {error.status_code}."
    return f"{type(error).__name__}."


class BusyWorkspaceRetry(RetryRule):
    """
    The retry rule around an export-job create: try again while another export of the workspace is running.

    Each attempt is a whole API call (with :class:`ApiRetry`'s own retries); only
    :class:`~airflow_provider_asana.exceptions.AsanaExportAlreadyRunningError` is retried here, with the
    policy's backoff (or Asana's ``Retry-After``), for up to ``max_wait`` seconds of sleep in all, and at
    most :attr:`cap` attempts (a floor for a zero backoff). When the other export outlasts that, the error
    says how long this call waited and how to avoid the wait.

    :param description: The call, for messages, e.g. ``"Asana POST /exports/resource"``.
    :param scope: What is busy, for messages, e.g. ``"workspace 1200000000000001"``.
    :param max_wait: The connection's ``max_busy_workspace_wait``: seconds of sleep in all; 0 retries nothing.
    """

    cap = 200

    def __init__(self, description: str, scope: str, max_wait: float) -> None:
        self.description = description
        self.scope = scope
        self.max_wait = max_wait

    def limit(self, policy: RetryPolicy) -> int:
        return self.cap

    def budget(self, policy: RetryPolicy) -> float:
        return self.max_wait

    def retryable(self, error: BaseException) -> bool:
        return self.max_wait > 0 and isinstance(error, AsanaExportAlreadyRunningError)

    def retrying(self, error: BaseException, status: RetryStatus) -> None:
        log.warning(
            "%s: another export of %s is in progress (HTTP 403). Trying again in %.1f s (waited %.0f s of "
            "max_busy_workspace_wait=%g s).",
            self.description,
            self.scope,
            status.wait,
            status.budget - status.left,
            status.budget,
        )

    def give_up(self, error: BaseException, status: RetryStatus) -> BaseException | None:
        if not isinstance(error, AsanaExportAlreadyRunningError):
            return None
        said = f" Asana said: {sentence('; '.join(error.messages))}" if error.messages else ""
        return AsanaExportAlreadyRunningError(
            f"{self.description} failed with HTTP 403.{said} Another export of {self.scope} was still in "
            f"progress after {status.attempts} attempts over {status.budget - status.left:.0f} s (the "
            f"connection's max_busy_workspace_wait is {status.budget:g} s): Asana runs one export per "
            "workspace at a time. Run the tasks that start exports of one workspace in an Airflow pool with "
            "one slot that counts deferred tasks (see the provider's docs, 'One export at a time per "
            "workspace'), raise max_busy_workspace_wait, or retry once the other export has ended.",
            status_code=error.status_code,
            messages=error.messages,
            phrase=error.phrase,
            retry_after=error.retry_after,
        )
