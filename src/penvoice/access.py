"""JSON logs, request ids and response headers common to every response.

`configure_logging` makes every log record one JSON line on stdout. `AccessLog` writes the
one access line per request (method, route template, status, duration, request id and
subject) for the request edge (`penvoice.web.edge`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

access_log = logging.getLogger("penvoice.access")

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


def json_line(when: datetime, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    """One log line's JSON: the time, level, logger and message, then the record's fields."""
    entry = {
        "time": when.isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "message": message,
        **fields,
    }
    return json.dumps(entry, default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _RESERVED and not key.startswith("_")
        }
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        when = datetime.fromtimestamp(record.created, UTC)
        return json_line(when, record.levelname.lower(), record.name, record.getMessage(), fields)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the edge logs requests (AccessLog)
    for chatty in ("httpx", "httpcore"):  # one line per issuer call is noise
        logging.getLogger(chatty).setLevel(logging.WARNING)


class AccessLog:
    """One JSON line per request: the line `JsonFormatter` would write for
    `access_log.info("request", extra=…)`, written straight to the log's stream when the
    log is configured by `configure_logging` (a `LogRecord`, the caller lookup and the
    formatter were half the CPU of a health probe). Anywhere else (tests, other handlers)
    it goes through `logging` as usual."""

    def write(
        self,
        method: str,
        route: str,
        status: int,
        duration_ms: float,
        request_id: str,
        subject: str | None,
    ) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "request_id": request_id,
            "subject": subject,
        }
        handler = _direct_handler()
        if handler is None:
            access_log.info("request", extra=fields)
            return
        line = json_line(datetime.now(UTC), "info", access_log.name, "request", fields) + "\n"
        with handler.lock or contextlib.nullcontext():
            handler.stream.write(line)
            handler.flush()


def _direct_handler() -> logging.StreamHandler[Any] | None:
    """The root's JSON stream handler, when the access log reaches it and nothing else."""
    if access_log.handlers or not access_log.propagate or access_log.disabled:
        return None
    handlers = logging.getLogger().handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if not isinstance(handler, logging.StreamHandler) or not isinstance(
        handler.formatter, JsonFormatter
    ):
        return None
    if handler.level > logging.INFO or handler.filters:
        return None
    return handler
