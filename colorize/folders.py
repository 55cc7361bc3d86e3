"""Searching folders for image files: the one walk that ``run`` and ``data import`` share.

Nothing under a folder is passed over without a word:

* hidden files and folders (``.name``) are skipped, as is the ``skip`` folder (the output);
* **symlinked folders are followed**, and each real folder is searched once: a link back
  to a folder already searched (a loop, or a second path to the same files) is reported
  in :attr:`Walk.notes` and not entered again;
* **a folder that cannot be listed** (no permission, an I/O error) is reported in
  :attr:`Walk.problems` with the reason; the caller counts it as a failure;
* **a name that is no regular file** (a FIFO, a device, a socket named ``*.png``) is
  reported in :attr:`Walk.notes` and skipped: opening a FIFO waits for a writer forever.
  A symlink to a regular file is taken.

Names are shown with :func:`shown`, so a file name with a newline or other control
character cannot split or forge a line of a report.

    walk = walk_images(Path("sketches"), skip=Path("out"))
    walk.files, walk.problems, walk.notes
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from colorize.fileio import file_kind, resolved

__all__ = ["Walk", "not_regular", "shown", "under", "walk_images"]


def shown(name: str | os.PathLike) -> str:
    """``name`` as one printable line: control characters (newline, tab, escape, ...) are
    written as Python escapes (``\\n``), so the name stays on its line and reads unambiguously."""
    text = os.fspath(name)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def under(path: Path, folder: Path | None) -> bool:
    """``path`` is ``folder`` or inside it (both already resolved)."""
    return folder is not None and (path == folder or folder in path.parents)


@dataclass
class Walk:
    """What a search found: image files in a stable order, and what it could not search."""

    files: list[Path] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)  # (folder, what is wrong and what to do)
    notes: list[tuple[Path, str]] = field(default_factory=list)  # (folder, what was done), not failures


def walk_images(root: Path, suffixes: Sequence[str], skip: Path | None = None) -> Walk:
    """Every file under ``root`` whose suffix (any case) is in ``suffixes``; see the module docstring.

    ``skip`` (resolved) is a folder not to enter, e.g. the output folder inside the input.
    """
    walk = Walk()
    searched = {resolved(root)}

    def unreadable(error: OSError) -> None:
        walk.problems.append((Path(error.filename or root),
                              f"cannot read this folder ({error.strerror or error}), so its files were not "
                              f"searched. Check its permissions (ls -ld), or remove it from the input"))

    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=True):
        here = Path(folder)
        entered = []
        for name in sorted(dirs):
            if name.startswith("."):
                continue
            real = resolved(here / name)
            if under(real, skip):
                continue
            if real in searched:
                walk.notes.append((here / name, f"is {shown(real)}, searched already by another path "
                                                f"(a symlink); its files are taken once"))
                continue
            searched.add(real)
            entered.append(name)
        dirs[:] = entered
        for name in sorted(files):
            if name.startswith(".") or Path(name).suffix.lower() not in suffixes:
                continue
            kind = not_regular(here / name)
            if kind is not None:
                walk.notes.append((here / name, f"is {kind}, not an image file; skipped"))
                continue
            walk.files.append(here / name)
    return walk


def not_regular(path: Path) -> str | None:
    """What ``path`` is when it is no regular file (a FIFO would block its reader forever), else None.

    A file that cannot be looked at (a dangling symlink) is kept: reading it names the problem.
    """
    try:
        return file_kind(os.stat(path).st_mode)
    except OSError:
        return None
