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

from airflow_provider_asana.exceptions import ERRORS_DOC, AsanaAPIError, AsanaTransportError
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

log = logging.getLogger(__name__)

#: The fields asked for by default: the OrganizationExport resource omits some unless asked.
EXPORT_FIELDS: tuple[str, ...] = ("created_at", "download_url", "organization", "organization.name", "state")
_EXPORT_KEYS = ("gid", "resource_type", "created_at", "state", "download_url", "organization")


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
_HTML_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


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


def export_params(opt_fields: Sequence[str] | str | None, opt_pretty: bool) -> dict[str, Any]:
    """Return the query of an organization-export call: ``opt_fields`` (None: the default), ``opt_pretty``."""
    if opt_fields is None:
        opt_fields = EXPORT_FIELDS
    fields = opt_fields if isinstance(opt_fields, str) else ",".join(opt_fields)
    return {"opt_fields": fields or None, "opt_pretty": True if opt_pretty else None}


def export_from_answer(
    body: dict[str, Any], opt_fields: Sequence[str] | str | None, call: str
) -> dict[str, Any]:
    """Return the OrganizationExport in ``body``; raise :class:`AsanaAPIError` if there is none."""
    data = body.get("data")
    problem = _not_an_export(data)
    if problem or not isinstance(data, dict):
        raise AsanaAPIError(
            f"Asana {call} answered with {problem}: there is no organization export gid. {NOT_ASANA_ADVICE}"
        )
    export = dict(data)
    if opt_fields is None or opt_fields == EXPORT_FIELDS:
        for key in _EXPORT_KEYS:
            export.setdefault(key, None)
    return export


def _not_an_export(data: Any) -> str | None:
    """Say what keeps an answer's ``data`` from being an OrganizationExport; None if it is one."""
    if data is None:
        return "no 'data'"
    if not isinstance(data, dict):
        return f"a JSON {json_type(data)} as its 'data', not an object"
    gid = data.get("gid")
    if gid is None:
        return "an export without a 'gid'"
    if not is_gid(gid):
        return f"an export whose gid {gid!r:.40} is not a digit string"
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
