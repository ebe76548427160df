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
    """Create the folder and any missing parents 0700 (mkdir -p would give parents the umask's mode).
    An existing folder is left as it is: it may be a backup's destination chosen by the admin; the data
    folder itself is narrowed at start by secure_data_folder."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(folder, PRIVATE_DIR)
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


# What Tsudoi keeps in its data folder besides the database files.
DATA_FOLDER_ENTRIES = frozenset(
    {"secret_key", "serving.lock", "migrate.lock", "org.version", "outbox", "backups", "attachments", "tmp"}
)


def _ours(folder: Path, database_name: str) -> list[Path]:
    names = DATA_FOLDER_ENTRIES | {database_name + suffix for suffix in SQLITE_SUFFIXES}
    return [folder / name for name in sorted(names) if (folder / name).exists()]


def _is_dedicated(folder: Path, database_name: str) -> bool:
    """True when the folder holds nothing but Tsudoi's entries: only then is it ours to narrow. A database
    put straight into a shared folder (/var/lib, a home folder) must not make the app chmod that folder."""
    names = DATA_FOLDER_ENTRIES | {database_name + suffix for suffix in SQLITE_SUFFIXES}
    return all(entry.name in names or entry.name.endswith(".part") for entry in folder.iterdir())


def _walk(path: Path) -> list[tuple[Path, int]]:
    """path and, for a folder, everything below it, each with the mode it should have. Links are skipped."""
    if path.is_symlink():
        return []
    if not path.is_dir():
        return [(path, PRIVATE_FILE)]
    found = [(path, PRIVATE_DIR)]
    for root, dirs, files in os.walk(path):
        found += [(Path(root) / name, PRIVATE_DIR) for name in dirs]
        found += [(Path(root) / name, PRIVATE_FILE) for name in files]
    return found


def _wrong(path: Path, wanted: int) -> bool:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    return not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) != wanted


def _expected(folder: Path, database_name: str) -> list[tuple[Path, int]]:
    expected = [(folder, PRIVATE_DIR)] if _is_dedicated(folder, database_name) else []
    for entry in _ours(folder, database_name):
        expected += _walk(entry)
    return expected


def secure_data_folder(folder: Path, database_name: str) -> int:
    """At start: narrow the data folder and Tsudoi's files in it (an install from before this rule, or files
    copied in by hand). Returns how many entries were changed."""
    if not folder.is_dir():
        return 0
    changed = 0
    for path, wanted in _expected(folder, database_name):
        if _wrong(path, wanted):
            os.chmod(path, wanted)
            changed += 1
    return changed


def loose_entries(folder: Path, database_name: str) -> list[Path]:
    """What secure_data_folder would narrow, plus the data folder itself when it is shared with other files
    and open to others (for the go-live check)."""
    if not folder.is_dir():
        return []
    found = [path for path, wanted in _expected(folder, database_name) if _wrong(path, wanted)]
    if not _is_dedicated(folder, database_name) and folder.stat().st_mode & 0o077:
        found.insert(0, folder)
    return found
