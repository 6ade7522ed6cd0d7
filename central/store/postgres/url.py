"""A PostgreSQL url as central shows it: never with its password."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
