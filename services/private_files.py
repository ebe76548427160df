"""Data at rest: the data folder is 0700 and every file in it 0600, whatever the process umask.

Every writer of the data folder (database, backups, outbox, attachments, secret key) goes through these
helpers, so a file never exists, even for a moment, with wider permissions than the owner's."""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
# SQLite creates these beside the database file (with the database file's mode on Unix).
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create the folder and any missing parents 0700 (mkdir -p would give parents the umask's mode),
    and narrow the folder itself to 0700."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            pass
        os.chmod(folder, PRIVATE_DIR)
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
    return path


def open_private(path: Path, *, exclusive: bool = False, truncate: bool = True) -> int:
    """A file descriptor for writing, the file created 0600 (and an existing file narrowed to 0600)."""
    flags = os.O_WRONLY | os.O_CREAT
    if exclusive:
        flags |= os.O_EXCL
    if truncate:
        flags |= os.O_TRUNC
    fd = os.open(path, flags, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return fd


def write_private(path: Path, data: bytes) -> None:
    private_dir(path.parent)
    fd = open_private(path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def touch_private(path: Path) -> None:
    """Create an empty file 0600 if missing (a new SQLite database is an empty file), else narrow it."""
    private_dir(path.parent)
    os.close(open_private(path, truncate=False))


def make_private(path: Path) -> None:
    """Narrow an existing file to 0600; a missing one is fine."""
    try:
        if stat.S_IMODE(path.stat().st_mode) != PRIVATE_FILE:
            os.chmod(path, PRIVATE_FILE)
    except FileNotFoundError:
        pass


def make_sqlite_private(database: Path) -> None:
    for suffix in SQLITE_SUFFIXES:
        make_private(database.with_name(database.name + suffix))


def secure_tree(folder: Path) -> int:
    """At start: narrow the data folder and everything in it (an install from before this rule, or files
    copied in by hand). Returns how many entries were changed. Symbolic links are left alone."""
    changed = 0
    if not folder.is_dir():
        return 0
    for root, dirs, files in os.walk(folder):
        for name, wanted in (
            [(".", PRIVATE_DIR)] + [(d, PRIVATE_DIR) for d in dirs] + [(f, PRIVATE_FILE) for f in files]
        ):
            path = Path(root) / name
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) == wanted:
                continue
            os.chmod(path, wanted)
            changed += 1
    return changed


def loose_entries(folder: Path) -> list[Path]:
    """Entries of the data folder readable or writable by anyone but the owner (for the go-live check)."""
    found: list[Path] = []
    if not folder.is_dir():
        return found
    for root, dirs, files in os.walk(folder):
        for name in [".", *dirs, *files]:
            path = Path(root) / name
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o077:
                found.append(path)
    return found
