"""Safe file writes: a crash or Ctrl-C never leaves a half-written file under the final name,
and an output path never lands outside the folder it was meant for.

Every writer of outputs that a later run trusts (dataset images, manifests, checkpoints)
goes through here: write to a temporary file in the same folder, then ``os.replace``.
:func:`atomic_write_together` does that for several files that stand or fall together, and
:func:`inside` builds an output path from a relative one and refuses it unless it resolves
inside its folder (``..`` parts and symlinks included).

    atomic_write_bytes(path, png_bytes)
    with atomic_open(path) as f: f.write(line)
    atomic_write_together({out / "a.png": png, out / "a.ora": ora})   # both, or neither
    path = inside(out, "sub/a.png")                                   # OutsideFolder for "../a.png"
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["NotRegularFile", "OutsideFolder", "atomic_open", "atomic_write_bytes", "atomic_write_text",
           "atomic_write_together", "file_kind", "inside", "leftover_temp_files", "open_regular", "read_json_object",
           "read_regular", "resolved"]

# The temporary name for NAME (see _temp_beside): mkstemp's 8 random characters between ".NAME." and ".tmp"
_TEMP = re.compile(r"^\.(.+)\.[a-z0-9_]{8}\.tmp$")
# mkstemp creates files as 0600; finished outputs get the mode a plain open() would give them.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _temp_beside(path: Path) -> tuple[int, str]:
    """A new temporary file in ``path``'s folder (made if missing), named as :data:`_TEMP` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``, else it is removed."""
    path = Path(path)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def leftover_temp_files(folder: str | os.PathLike, final_name: re.Pattern[str]) -> list[Path]:
    """The temporary files :func:`atomic_open` left in ``folder`` (not below it) for final
    names that ``final_name`` matches in full, oldest name first.

    A write killed outright (SIGKILL, out of memory, power loss) gets no chance to remove its
    temporary file; whoever owns the folder removes them when it next starts writing there.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        m = _TEMP.match(path.name)
        if m and final_name.fullmatch(m.group(1)) and path.is_file() and not path.is_symlink():
            found.append(path)
    return sorted(found)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_together(files: dict[Path, bytes]) -> None:
    """Write several files so that a failure leaves none of them changed: every file goes to
    a temporary file beside its target first, and only when all are written are they moved
    into place (``os.replace``, which does not fail for want of space)."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            fd, tmp = _temp_beside(path)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~_UMASK)
        for _, path in staged:  # the one thing os.replace refuses here, found before anything moves
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "a folder has the output's name", str(path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


class OutsideFolder(ValueError):
    """An output path that would land outside the folder it was built under."""


def inside(folder: str | os.PathLike, rel: str | os.PathLike) -> Path:
    """``folder / rel``, checked to resolve inside ``folder``: an absolute ``rel``, ``..``
    parts, or a symlink below ``folder`` that leads out raise :class:`OutsideFolder`."""
    path = Path(folder) / rel
    base = resolved(folder)
    target = resolved(path)
    if Path(rel).is_absolute() or (target != base and base not in target.parents):
        raise OutsideFolder(f"{path} would be written outside {folder} (it resolves to {target})")
    return path


def resolved(path: str | os.PathLike) -> Path:
    """``Path(path).resolve()``, or its absolute path where symlinks loop (``resolve`` raises
    RuntimeError there): the file is still named, and reading it says what is wrong."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(path))


class NotRegularFile(OSError):
    """A path that names a FIFO, a device, a socket or a folder where a file's bytes were expected."""


_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def file_kind(mode: int) -> str | None:
    """What a ``st_mode`` names when it is not a regular file ("a FIFO (named pipe)"); None for a regular file."""
    return None if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(path: str | os.PathLike) -> IO[bytes]:
    """``open(path, "rb")`` for a regular file (a symlink to one is fine), refusing anything else.

    Opened without blocking and checked on the open descriptor, because ``open()`` on a FIFO
    waits for a writer forever and a device never ends; checking the path first would race
    with a swap. Raises :class:`NotRegularFile` for anything else.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise NotRegularFile(f"it is {kind}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike) -> bytes:
    """The bytes of ``path``, a regular file (see :func:`open_regular`)."""
    with open_regular(path) as f:
        return f.read()


def read_json_object(path: str | os.PathLike) -> dict:
    """The JSON object in ``path``; empty when the file is missing, unreadable, not JSON or
    not an object. For the small side files builders leave (``dataset.json``, ``iconify.json``),
    where a damaged one means "nothing known", never a failure."""
    import json

    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
