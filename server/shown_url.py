"""Model server addresses as the service may show them: no credentials, no query.

A provider URL may carry a user and password (`http://user:secret@llm:8000/v1`) or a key
in its query. Labels built from it reached `/health/detailed` and `/metrics` (both public)
and the start-up log; error messages naming the server reached callers.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def shown_url(url: object) -> str:
    """Return `url` without its user, password, query and fragment."""
    parts = urlsplit(str(url))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
