"""Structured logs: one JSON object per line, with the request id of the current request.

`python-json-logger` formats (with orjson, as the API bodies are); fields passed in
`extra=` become keys. `ORCA_LOG_FORMAT=text` keeps plain lines for a terminal.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.orjson import OrjsonFormatter

from server.observability.requests import REQUEST_ID


class RequestIdFilter(logging.Filter):
    """Stamp each record with the request id of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `request_id` and let the record through."""
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(*, level: str = "INFO", json_lines: bool = True) -> None:
    """Send the service's logs (and uvicorn's) to stderr, as JSON lines by default."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if json_lines:
        handler.setFormatter(
            OrjsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The request log line replaces uvicorn's access log.
    logging.getLogger("uvicorn.access").disabled = True
