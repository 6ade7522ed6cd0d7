"""A PostgreSQL url as central shows it: never with its password."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

# libpq takes both spellings of the scheme.
SCHEMES = ("postgresql", "postgres")
HIDDEN = "***"
# libpq's password parameter, in a url's query string.
_QUERY_PASSWORD = re.compile(r"^password$", re.IGNORECASE)


def is_postgres_url(location: str) -> bool:
    """Whether `location` is a libpq url (postgresql://... or postgres://...)."""
    return any(location.startswith(f"{scheme}://") for scheme in SCHEMES)


def redact(url: str) -> str:
    """`url` with any password (user:PASSWORD@ or ?password=) replaced by ***; for logs and
    errors. A string that does not parse as a url is replaced whole rather than risk it."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostinfo = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{HIDDEN}@{hostinfo}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [(k, HIDDEN if _QUERY_PASSWORD.match(k) else v) for k, v in pairs], safe="*"
            )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "postgresql://(url hidden: it does not parse)"


def scrub(message: str, url: str) -> str:
    """`message` (an error's text, libpq's or psycopg's) with the password of `url` in any
    of its spellings replaced by ***: libpq quotes a part of the url it cannot parse, and
    that part can be the password. Raises nothing."""
    secrets: set[str] = set()
    try:
        parts = urlsplit(url)
        if parts.password:
            secrets.add(parts.password)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        secrets.update(v for k, v in pairs if _QUERY_PASSWORD.match(k))
        raw = [p.split("=", 1) for p in parts.query.split("&") if "=" in p]
        secrets.update(v for k, v in raw if _QUERY_PASSWORD.match(unquote(k)))
    except ValueError:
        return "(message hidden: the url it is about does not parse)"
    secrets.update({unquote(s) for s in secrets})
    # Longest first, so a password that contains another spelling of itself goes whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, HIDDEN)
    return message
