from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from durantic_agent.health.spec import HealthCheck, parse_status_ranges
from durantic_agent.validation import format_errors

TCP = {"tcp": {"host": "127.0.0.1", "port": 5432}}


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as ei:
        HealthCheck.model_validate(data)
    return format_errors(ei.value, prefix="health_check")


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            {**TCP, "interval": "1s", "timeout": "2s"},
            "health_check.timeout: '2s' must not exceed interval (1s)",
        ),
        (
            {**TCP, "healthy_threshold": 0},
            "health_check.healthy_threshold: 0 must be greater than or equal to 1",
        ),
        (
            {**TCP, "unhealthy_threshold": -1},
            "health_check.unhealthy_threshold: -1 must be greater than or equal to 1",
        ),
        (
            {"exec": {"command": ["/nope", "--quick"]}},
            "health_check.exec.command[0]: '/nope' does not exist or is not executable",
        ),
        (
            {"exec": {"command": ["nope-xyz"]}},
            "health_check.exec.command[0]: 'nope-xyz' is not found on PATH (give an absolute path)",
        ),
        (
            {"exec": {"command": "/bin/true --quick"}},
            "health_check.exec.command: '/bin/true --quick' must be a list of arguments like "
            "['/usr/local/bin/check', '--quick'] (no shell)",
        ),
        ({"exec": {"command": []}}, "health_check.exec.command: [] must name a program"),
        (
            {"http": {"url": "ftp://127.0.0.1/x"}},
            "health_check.http.url: 'ftp://127.0.0.1/x' must be an http:// or https:// URL",
        ),
        (
            {"http": {"url": "127.0.0.1:8080"}},
            "health_check.http.url: '127.0.0.1:8080' must be an http:// or https:// URL",
        ),
        (
            {"http": {"url": "http://a/", "expected_status": "200-99"}},
            "health_check.http.expected_status: '200-99' is not a status list like '200-299,301' "
            "(codes 100..599, low-high)",
        ),
        (
            {"http": {"url": "http://a/", "expected_status": "600"}},
            "health_check.http.expected_status: '600' is not a status list like '200-299,301' "
            "(codes 100..599, low-high)",
        ),
        ({**TCP, "retries": 3}, "health_check.retries: unknown key"),
        ({"tcp": {"host": "a", "port": 1, "tls": True}}, "health_check.tcp.tls: unknown key"),
        (
            {"tcp": {"host": "a", "port": 70000}},
            "health_check.tcp.port: 70000 must be less than or equal to 65535",
        ),
        (
            {"grpc": {"target": "localhost"}},
            "health_check.grpc.target: 'localhost' is not host:port (IPv6 as [addr]:port)",
        ),
        ({**TCP, "interval": "10ms"}, "health_check.interval: '10ms' must be at least 100ms"),
        ({**TCP, "interval": "soon"}, "health_check.interval: 'soon' is not a duration like '500ms' or '2s'"),
        (
            {**TCP, "flap": {"max_changes": 0, "window": "1m", "hold_down": "5m"}},
            "health_check.flap.max_changes: 0 must be greater than or equal to 1",
        ),
        (
            {"interval": "2s"},
            "health_check: has no probe: give exactly one of http, tcp, grpc, exec",
        ),
    ],
)
def test_bad_input_is_one_line_naming_field_and_value(data: dict[str, Any], line: str) -> None:
    assert errors(data) == [line]


def test_two_probes_rejected() -> None:
    (line,) = errors({**TCP, "http": {"url": "http://a/"}})
    assert line.startswith("health_check: ") and line.endswith(
        "has http and tcp: give exactly one of http, tcp, grpc, exec"
    )


def test_exec_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    assert errors({"exec": {"command": [str(script)]}}) == [
        f"health_check.exec.command[0]: '{script}' does not exist or is not executable"
    ]
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    assert HealthCheck.model_validate({"exec": {"command": [str(script)]}}).exec is not None


def test_ca_file_must_exist() -> None:
    assert errors({"http": {"url": "https://a/", "ca_file": "/nope/ca.pem"}}) == [
        "health_check.http.ca_file: '/nope/ca.pem' does not exist"
    ]


@pytest.mark.parametrize(
    ("text", "ranges"),
    [
        ("200-299,301", ((200, 299), (301, 301))),
        ("200", ((200, 200),)),
        (204, ((204, 204),)),
        (" 200 - 204 , 418 ", ((200, 204), (418, 418))),
    ],
)
def test_status_ranges(text: str | int, ranges: tuple[tuple[int, int], ...]) -> None:
    assert parse_status_ranges(text) == ranges


def test_defaults() -> None:
    hc = HealthCheck.model_validate(TCP)
    assert (hc.interval, hc.timeout, hc.healthy_threshold, hc.unhealthy_threshold) == (2.0, 1.0, 2, 3)
    assert hc.kind == "tcp"
    # a short interval shrinks the default timeout instead of rejecting it
    assert HealthCheck.model_validate({**TCP, "interval": "500ms"}).timeout == 0.5


ROUND_TRIP = [
    {
        "http": {"url": "http://127.0.0.1:8080/healthz", "expected_status": "200-399"},
        "interval": "2s",
        "timeout": "1s",
        "healthy_threshold": 2,
        "unhealthy_threshold": 3,
    },
    {
        "http": {
            "url": "https://[::1]:8443/h",
            "method": "head",
            "expected_status": "200-299,301",
            "headers": {"Host": "web.example"},
            "tls_verify": False,
        },
        "interval": "500ms",
    },
    {
        "tcp": {"host": "127.0.0.1", "port": 5432},
        "interval": "1s",
        "timeout": "250ms",
        "healthy_threshold": 1,
    },
    {
        "grpc": {"target": "127.0.0.1:50051", "service": "web"},
        "flap": {"max_changes": 3, "window": "1m", "hold_down": "5m"},
    },
    {"exec": {"command": ["sh", "-c", "exit 0"], "env": {"MODE": "quick"}}, "unhealthy_threshold": 5},
]


@pytest.mark.parametrize("data", ROUND_TRIP)
def test_round_trip_dump_validate_is_identity(data: dict[str, Any]) -> None:
    hc = HealthCheck.model_validate(data)
    dumped = hc.model_dump(mode="json", exclude_defaults=True)
    text = yaml.safe_dump({"health_check": dumped})
    again = HealthCheck.model_validate(yaml.safe_load(text)["health_check"])
    assert again == hc
    assert again.model_dump(mode="json", exclude_defaults=True) == dumped


def test_dump_is_human_shaped() -> None:
    hc = HealthCheck.model_validate(ROUND_TRIP[1])
    assert hc.model_dump(mode="json", exclude_defaults=True) == {
        "http": {
            "url": "https://[::1]:8443/h",
            "method": "HEAD",
            "expected_status": "200-299,301",
            "headers": {"Host": "web.example"},
            "tls_verify": False,
        },
        "interval": "500ms",
        "timeout": "500ms",
    }


def test_same_probe_ignores_timing() -> None:
    a = HealthCheck.model_validate(TCP)
    assert a.same_probe(HealthCheck.model_validate({**TCP, "interval": "5s", "healthy_threshold": 4}))
    assert not a.same_probe(HealthCheck.model_validate({"tcp": {"host": "127.0.0.1", "port": 5433}}))


def test_exec_bare_name_on_path() -> None:
    assert os.path.exists("/bin/sh")
    hc = HealthCheck.model_validate({"exec": {"command": ["sh", "-c", "true"]}})
    assert hc.exec is not None and hc.exec.command == ("sh", "-c", "true")
