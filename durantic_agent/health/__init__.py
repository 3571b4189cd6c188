"""Health checks of announcements: schema (spec), state machine (fsm), probes, engine, metrics."""

from __future__ import annotations

from .engine import CheckStatus, HealthEngine, TransitionRecord
from .fsm import State, passing
from .probes import ProbeContext, ProbeResult, probe
from .spec import ExecProbe, FlapDamping, GrpcProbe, HealthCheck, HttpProbe, TcpProbe

__all__ = [
    "CheckStatus",
    "ExecProbe",
    "FlapDamping",
    "GrpcProbe",
    "HealthCheck",
    "HealthEngine",
    "HttpProbe",
    "ProbeContext",
    "ProbeResult",
    "State",
    "TcpProbe",
    "TransitionRecord",
    "passing",
    "probe",
]
