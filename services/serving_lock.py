"""Who is using the data folder: the serving app holds a shared advisory lock on <data>/serving.lock for
its whole life; `restore` needs it exclusively, so it cannot replace the database under a running app.
The kernel drops the lock when the process ends (even killed), so no stale pid file can block a restore."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from services.private_files import open_private, private_dir

LOCK_NAME = "serving.lock"


class DataFolderBusy(RuntimeError):
    """Another process holds the lock in a way that excludes ours."""


def _open(data_dir: Path) -> int:
    private_dir(data_dir)
    return open_private(data_dir / LOCK_NAME, truncate=False)


class ServingLock:
    def __init__(self, data_dir: Path, *, exclusive: bool) -> None:
        self.data_dir = data_dir
        self.exclusive = exclusive
        self._fd: int | None = None

    def acquire(self) -> ServingLock:
        fd = _open(self.data_dir)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError as error:
            os.close(fd)
            raise DataFolderBusy(str(self.data_dir / LOCK_NAME)) from error
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ServingLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
