"""Error bodies as Asana, S3 and an HTTP proxy write them."""

from __future__ import annotations

import random
import secrets
from xml.sax.saxutils import escape

ERRORS_HELP = (
    "For more information on API status codes and how to handle them, read the docs on errors: "
    "https://developers.asana.com/docs/errors"
)
RATE_LIMIT_MESSAGE = "You have made too many requests recently. Please, be chill."

_ADJECTIVES = ("sad", "happy", "sleepy", "brave", "quiet", "shiny", "grumpy", "fuzzy", "gentle", "wild")
_NOUNS = ("squid", "otters", "pandas", "llamas", "owls", "badgers", "herons", "koalas", "moles", "yaks")
_VERBS = ("snuggle", "dance", "wander", "giggle", "ponder", "leap", "whistle", "hum", "nap", "juggle")
_ADVERBS = (
    "softly",
    "boldly",
    "quickly",
    "sweetly",
    "calmly",
    "loudly",
    "gladly",
    "oddly",
    "warmly",
    "shyly",
)

_SERVER_ERROR_MESSAGES = {
    500: "Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_phrase(rng: random.Random | None = None) -> str:
    """Make up a support phrase in the style of ``node-asana-phrase``, e.g. ``6 sad squid snuggle softly``."""
    rng = rng or random.Random()
    pick = rng.choice
    return f"{rng.randint(2, 99)} {pick(_ADJECTIVES)} {pick(_NOUNS)} {pick(_VERBS)} {pick(_ADVERBS)}"


def asana_error(message: str, *, phrase: str | None = None) -> dict:
    """Build an Asana error body: ``{"errors": [{"message", "help"[, "phrase"]}]}``."""
    error = {"message": message, "help": ERRORS_HELP}
    if phrase is not None:
        error["phrase"] = phrase
    return {"errors": [error]}


def server_error(status: int) -> dict:
    """Build the body of an Asana 5xx answer; it carries a phrase, as Asana's 500s do."""
    return asana_error(_SERVER_ERROR_MESSAGES.get(status, "Server Error"), phrase=error_phrase())


def proxy_html(status: int, reason: str) -> bytes:
    """Build the HTML page a load balancer in front of the API sends instead of JSON."""
    title = f"{status} {reason}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def s3_error(code: str, message: str, **extra: str) -> bytes:
    """Build an S3 XML error document with a random request id, as S3 answers a refused GET."""
    parts = [f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    parts += [f"<{name}>{escape(value)}</{name}>" for name, value in extra.items()]
    parts.append(f"<RequestId>{secrets.token_hex(8).upper()}</RequestId>")
    parts.append(f"<HostId>{secrets.token_urlsafe(48)}</HostId>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()
