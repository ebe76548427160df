"""A counter every worker process on the machine reads from shared memory: a file of 8 bytes in the data
folder, mapped into each process. Reading it costs a memory read (no query, no system call), so each
request can ask "did another worker change the organization settings?" for free (services/context.py)."""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

from services.private_files import PRIVATE_FILE, private_dir

SIZE = 8
_FORMAT = "<Q"


class SharedCounter:
    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)  # a mapping needs read and write
        os.fchmod(fd, PRIVATE_FILE)
        try:
            if os.fstat(fd).st_size < SIZE:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    if os.fstat(fd).st_size < SIZE:  # another worker may have sized it meanwhile
                        os.ftruncate(fd, SIZE)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            self._map: mmap.mmap | None = mmap.mmap(
                fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        finally:
            os.close(fd)  # the mapping keeps what it needs
        self.path = path

    def value(self) -> int:
        if self._map is None:
            return 0
        return int(struct.unpack_from(_FORMAT, self._map)[0])

    def bump(self) -> int:
        """Add one (writers take turns through a lock on the file); returns the new value."""
        if self._map is None:
            return 0
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            value = self.value() + 1
            struct.pack_into(_FORMAT, self._map, 0, value)
            return value
        finally:
            os.close(fd)  # closing drops the lock

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
