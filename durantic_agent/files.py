"""Files the agent reads and writes: durable writes, reads that never hang, and the secret-file rule.

A write is acknowledged only once the whole file is on disk under its final name (temp file, every
write checked, fsync, rename, fsync of the directory); a read opens with O_NONBLOCK and looks at the
file type first, so a FIFO or a directory in place of a file is an error, not a hang.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path

from .errors import AgentError, StorageError

__all__ = ["FileProblem", "lock_dir", "read_regular", "read_secret", "secret_problem", "write_durable"]

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symbolic link",
}


class FileProblem(AgentError):
    """A file exists but cannot be used; the message names the file and why (one line)."""


def _fsync_dir(directory: Path) -> None:
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # a regular file never returns 0 for a non-empty write; treat it as a full disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]


def write_durable(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data`, whole and on disk, or raise StorageError with `path` unchanged."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    renamed = False
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            _write_all(fd, data)
            os.fsync(fd)
            # what the kernel holds is what we meant to write (a short write would show up here)
            if os.fstat(fd).st_size != len(data) or os.pread(fd, len(data), 0) != data:
                raise OSError(errno.EIO, "the written file does not read back whole")
        finally:
            os.close(fd)
        os.replace(tmp, path)
        renamed = True
        _fsync_dir(path.parent)
    except OSError as e:
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise StorageError(path, e) from None


def read_regular(path: Path, what: str) -> bytes:
    """The bytes of a regular file. FileNotFoundError passes through; any other problem is a FileProblem
    naming `what` and the path: a directory, a FIFO or a device is refused without blocking on it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise FileProblem(f"{what} {str(path)!r} is not a regular file (a directory)") from None
    except OSError as e:
        raise FileProblem(f"{what} {str(path)!r} is unreadable: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a file")
            raise FileProblem(f"{what} {str(path)!r} is not a regular file ({kind})")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise FileProblem(f"{what} {str(path)!r} is unreadable: {e.strerror}") from None
    finally:
        os.close(fd)


def secret_problem(path: Path) -> str | None:
    """Why a key or password file must not be used, or None. As ssh does for private keys, a file that
    group or others may access is refused: its secret may already have leaked."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # a missing file is reported by whoever reads it
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
        return (
            f"{str(path)!r} has mode {stat.S_IMODE(st.st_mode):04o}: it is accessible by group or others "
            "(chmod 600 it; secrets must be readable by the owner only)"
        )
    return None


def read_secret(path: Path, what: str) -> str:
    """The stripped text of a key or password file; FileProblem if it is open to others or not a file."""
    problem = secret_problem(path)
    if problem is not None:
        raise FileProblem(f"{what}: {problem}")
    return read_regular(path, what).decode("utf-8", "replace").strip()


def lock_dir(directory: Path, what: str) -> int:
    """An exclusive lock on `directory`/agent.lock, held as long as the returned descriptor is open (the
    kernel drops it when the process dies, however it dies). A second agent on the same directory gets
    an AgentError naming the holder."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(directory / "agent.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise AgentError(f"{what} {str(directory)!r} cannot be used: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise AgentError(
            f"another agent (pid {holder}) is running with {what} {str(directory)!r}; "
            "each agent on a host needs its own runtime_dir, state_dir and API socket"
        ) from None
    except OSError as e:
        os.close(fd)
        raise AgentError(f"{what} {str(directory)!r} cannot be locked: {e.strerror}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
