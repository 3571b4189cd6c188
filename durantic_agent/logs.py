"""Structured logging for `durantic agent run`: logfmt on stderr by default, JSON lines on request.

Both carry the same fields (ts, level, logger, msg, and any `extra=` fields), so journald, Loki or a
grep all work without a parser per message.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

__all__ = ["RepeatFilter", "setup_logging"]

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


class RepeatFilter(logging.Filter):
    """At most `burst` lines per `window` seconds for one message template (logger, level, format): a
    fault that repeats thousands of times a second (accept() failing, a flood of bad requests) costs a
    few lines, then one line saying how many were dropped, instead of filling the disk."""

    def __init__(self, burst: int = 20, window: float = 10.0) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._seen: dict[tuple[str, int, str], list[float | int]] = {}  # key -> [window start, count]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        entry = self._seen.get(key)
        if entry is None or now - entry[0] >= self.window:
            dropped = int(entry[1]) - self.burst if entry is not None and entry[1] > self.burst else 0
            if len(self._seen) > 1024:
                self._seen.clear()
            self._seen[key] = [now, 1]
            if dropped:
                record.msg = f"{record.msg} (and {dropped} more like it in the last {self.window:.0f}s, not shown)"
            return True
        entry[1] += 1
        return entry[1] <= self.burst


def setup_logging(level: str, fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries log at WARNING and up only: their chatter (every HTTP probe, every netlink message)
    # drowns the agent's own story; the level applies to the agent's loggers.
    root.setLevel(logging.WARNING)
    logging.getLogger("durantic").setLevel(getattr(logging, level.upper()))
