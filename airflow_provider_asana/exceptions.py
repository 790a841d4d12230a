"""Errors raised by the Asana provider."""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk.exceptions import AirflowException, AirflowFailException

ERRORS_DOC = "https://developers.asana.com/docs/errors"


class AsanaAPIError(AirflowException):
    """
    A call to Asana failed.

    The text says what failed, what Asana said and what to do about it; the attributes carry the
    same facts for code that wants to branch on them.

    :param message: The full, human readable explanation.
    :param status_code: The HTTP status Asana (or a proxy in front of it) answered, if any.
    :param messages: Asana's ``errors[].message`` texts.
    :param phrase: Asana's error phrase (sent on 500s), to quote to Asana support.
    :param retry_after: Seconds Asana asked us to wait (``Retry-After`` on a 429).
    """

    # Redefined on purpose: AirflowException.status_code is a class constant, the HTTPStatus Airflow 2's REST
    # API answered with for an error, which nothing in Airflow 3 reads. Here it is Asana's answer (any int,
    # not only an HTTPStatus member), or None when no answer came; users branch on it, so it keeps its name.
    status_code: int | None  # type: ignore[assignment]

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        messages: Sequence[str] = (),
        phrase: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.messages = list(messages)
        self.phrase = phrase
        self.retry_after = retry_after


class AsanaTransportError(AsanaAPIError):
    """
    No HTTP answer came back from Asana.

    :param kind: ``"connect"`` (the request never reached Asana), ``"timeout"`` (sent, no answer in
        time) or ``"disconnect"`` (the connection broke after the request was sent).
    """

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class AsanaExportFailedError(AsanaAPIError):
    """Asana reports the organization export in state ``error``."""


class AsanaExportTimeoutError(AirflowFailException):
    """
    The export was still running when the task's ``timeout`` passed; the task fails without retries.

    The export itself goes on in Asana: clearing the task re-attaches to it.
    """


class AsanaDownloadError(AirflowException):
    """The export file could not be downloaded, verified or stored."""
