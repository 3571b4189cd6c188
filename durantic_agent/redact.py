"""Secret values in announcements, replaced by a placeholder wherever an object is shown.

A health check may carry credentials: HTTP headers (Authorization, Cookie, anything named like a token,
secret, password or key), a password in the URL, exec `env` values and `name=value` arguments with such
a name. Views (announce list/show, the web page, its JSON) show the placeholder; only the export on the
root-only unix socket (`GET /v1/objects`, `durantic get`) keeps the values, so that it can be applied back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "is_secret_name", "redact_announcement"]

REDACTED = "<redacted>"
_SECRET_WORDS = ("auth", "cookie", "token", "secret", "password", "passwd", "passphrase", "key", "credential")


def is_secret_name(name: str) -> bool:
    low = name.lower()
    return any(w in low for w in _SECRET_WORDS)


def _redact_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{host}"))


def _redact_arg(arg: str) -> str:
    name, sep, _ = arg.partition("=")
    return f"{name}={REDACTED}" if sep and is_secret_name(name) else arg


def redact_announcement(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of an announcement's JSON form with its secret values replaced (the input is not changed)."""
    hc = obj.get("health_check")
    if not isinstance(hc, dict):
        return obj
    hc = dict(hc)
    http = hc.get("http")
    if isinstance(http, dict):
        http = dict(http)
        if isinstance(http.get("url"), str):
            http["url"] = _redact_url(http["url"])
        if isinstance(http.get("headers"), dict):
            http["headers"] = {k: REDACTED if is_secret_name(k) else v for k, v in http["headers"].items()}
        hc["http"] = http
    ex = hc.get("exec")
    if isinstance(ex, dict):
        ex = dict(ex)
        if isinstance(ex.get("env"), dict):
            ex["env"] = dict.fromkeys(ex["env"], REDACTED)
        if isinstance(ex.get("command"), list):
            ex["command"] = [_redact_arg(a) if isinstance(a, str) else a for a in ex["command"]]
        hc["exec"] = ex
    return {**obj, "health_check": hc}
