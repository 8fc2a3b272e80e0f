"""Where the service's log goes and how each line looks: text for a terminal, JSON for a
log collector (``rasid --log-format json run``).

A JSON line is one object: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
``exception`` (the traceback text, when there is one) and every field the call passed
with ``extra=``. Nothing is added that the text line does not say: what rasid logs is
written never to hold a secret (a webhook URL, a signing secret, a token), and a
format must not change that.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from monitor.config import Settings

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that say too much at INFO: shown only when rasid itself logs at DEBUG.
CHATTY = ("scrapy", "twisted", "trafilatura", "htmldate", "apscheduler", "filelock", "alembic")

# The attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in the text are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        # default=str: an extra field that JSON cannot hold (a datetime) is shown as text.
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(settings: Settings, fmt: LogFormat = "text") -> None:
    """Log to stderr at ``settings.log_level`` in ``fmt``, the chatty libraries quieter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    quiet = logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(quiet)
