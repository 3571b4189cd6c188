"""Exceptions of the agent.

AgentError
├── ConfigError          agent.yaml / members file invalid (carries every message)
├── ValidationFailed     an object (announcement, policy set) rejected; one line per error names field and value
├── SidecarError
│   ├── SidecarUnavailable   gobgpd not running / not answering
│   └── SidecarRejected      gobgpd answered with an error (text only: GoBGP uses StatusCode.UNKNOWN)
├── StorageError         a file could not be made durable (carries errno); nothing was changed
├── NetlinkOpError       a kernel operation failed (carries errno)
└── WireGuardError       a WireGuard backend failed
"""

from __future__ import annotations

__all__ = [
    "AgentError",
    "ConfigError",
    "NetlinkOpError",
    "SidecarError",
    "SidecarRejected",
    "SidecarUnavailable",
    "StorageError",
    "ValidationFailed",
    "WireGuardError",
]


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigError(AgentError):
    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("; ".join(messages))


class ValidationFailed(AgentError):
    """Bad input from a user: each message is one line naming the field and the value."""

    def __init__(self, messages: str | list[str]) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("; ".join(self.messages))


class SidecarError(AgentError):
    pass


class SidecarUnavailable(SidecarError):
    pass


class SidecarRejected(SidecarError):
    pass


class StorageError(AgentError):
    def __init__(self, path: object, err: OSError) -> None:
        self.errno = err.errno
        self.path = path
        why = err.strerror or str(err)
        super().__init__(f"{str(path)!r} could not be written: {why}; nothing was changed")


class NetlinkOpError(AgentError):
    def __init__(self, message: str, errno: int | None = None) -> None:
        self.errno = errno
        super().__init__(message)


class WireGuardError(AgentError):
    pass
