"""Secrets in a shown announcement are replaced; the rest is shown as stored."""

from __future__ import annotations

import logging

from durantic_agent.logs import RepeatFilter
from durantic_agent.objects.document import parse_doc
from durantic_agent.redact import REDACTED, redact_announcement


def test_redact_headers_url_env_and_args() -> None:
    doc = parse_doc(
        {
            "announcements": [
                {
                    "name": "h",
                    "route": "198.51.100.0/24",
                    "health_check": {
                        "http": {
                            "url": "http://u:pw@127.0.0.1:8080/x",
                            "headers": {"Authorization": "Bearer t", "X-Api-Key": "k", "Accept": "text/plain"},
                        }
                    },
                },
                {
                    "name": "e",
                    "route": "198.51.101.0/24",
                    "health_check": {"exec": {"command": ["true", "--token=abc", "-v"], "env": {"MODE": "q"}}},
                },
            ]
        }
    )
    h, e = (redact_announcement(a.model_dump(mode="json", exclude_defaults=True)) for a in doc.announcements)
    http = h["health_check"]["http"]
    assert http["url"] == f"http://u:{REDACTED}@127.0.0.1:8080/x"
    assert http["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED, "Accept": "text/plain"}
    ex = e["health_check"]["exec"]
    assert ex["command"] == ["true", f"--token={REDACTED}", "-v"] and ex["env"] == {"MODE": REDACTED}
    # the stored object is untouched
    assert doc.announcements[0].health_check is not None
    assert doc.announcements[0].health_check.http is not None
    assert doc.announcements[0].health_check.http.headers["Authorization"] == "Bearer t"


def test_repeat_filter_keeps_a_burst_then_counts_the_rest() -> None:
    f = RepeatFilter(burst=3, window=3600)
    rec = [logging.LogRecord("x", logging.ERROR, "", 0, "accept failed: %s", ("EMFILE",), None) for _ in range(10)]
    assert [f.filter(r) for r in rec] == [True] * 3 + [False] * 7
    other = logging.LogRecord("x", logging.ERROR, "", 0, "another line", (), None)
    assert f.filter(other)
