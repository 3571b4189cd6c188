"""Structured logging for `durantic agent run`: logfmt on stderr by default, JSON lines on request.

Both carry the same fields (ts, level, logger, msg, and any `extra=` fields), so journald, Loki or a
grep all work without a parser per message.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

__all__ = ["setup_logging"]

_STD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    t = time.gmtime(record.created)
    out: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for k, v in vars(record).items():
        if k not in _STD and not k.startswith("_"):
            out[k] = v
    if record.exc_info:
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    return out


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for k, v in _fields(record).items():
            s = str(v)
            if s == "" or any(c in s for c in ' "=\n'):
                s = json.dumps(s)
            parts.append(f"{k}={s}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str)


def setup_logging(level: str, fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries log at WARNING and up only: their chatter (every HTTP probe, every netlink message)
    # drowns the agent's own story; the level applies to the agent's loggers.
    root.setLevel(logging.WARNING)
    logging.getLogger("durantic").setLevel(getattr(logging, level.upper()))
