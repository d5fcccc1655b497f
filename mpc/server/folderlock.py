"""One folder, one owner: an exclusive lock a server holds on its data folder while it runs.

`FolderLock(folder).acquire()` takes `fcntl.flock(LOCK_EX | LOCK_NB)` on ``folder/.lock`` and
writes who holds it (pid, host, start time) into that file; a second holder, in this process or
another, is refused at once with `FolderInUse` naming the folder and the holder. The kernel
releases the lock when the holder's process ends, however it ends (``kill -9`` included), so a
crash never leaves a folder locked. Anything that owns a folder (the server's data folder, a
worker shard's ``DATA/shard-K``) takes its own `FolderLock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

from .config import ConfigError

#: The lock file inside the folder it guards.
LOCK_NAME = ".lock"


class FolderInUse(ConfigError):
    """The folder is held by another owner (the message names the folder and the holder)."""


class FolderLock:
    """An exclusive, non-blocking lock on `folder` (see the module docstring)."""

    def __init__(self, folder: Path, *, what: str = "mpcmix serve") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        """Take the lock (FolderInUse if another holder has it); returns self."""
        if self._fd is not None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise FolderInUse(
                f"data folder {str(self.folder)!r} is in use by another {self.what}"
                f"{f' ({holder})' if holder else ''}: one folder has one owner; stop that "
                "server or give this one another --data-dir") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S%z")
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (idempotent). The file stays: removing it would race a new holder."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a holder dropped without release: the descriptor is closed
        self.release()


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
