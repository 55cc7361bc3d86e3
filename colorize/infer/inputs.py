"""Which files a run colours, and where their results may go.

Inputs are files, folders (searched recursively for image files, hidden folders skipped)
and glob patterns (``art/**/*.png``), each file taken once. Each becomes a
:class:`Source` that remembers its path under the folder or pattern it was found by, so
the output tree can mirror the input tree. :func:`check_output_folder` refuses an output
folder that would put results among the inputs.

    sources = find_sources(["sketches/", "more/**/*.png"], skip=Path("out"))
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from colorize.fileio import resolved
from colorize.data.images import IMAGE_SUFFIXES

__all__ = ["GLOB_CHARS", "Source", "check_output_folder", "find_sources"]

GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Source:
    """One input file: where it is, and its path under its input (which the output mirrors)."""

    path: Path
    rel: PurePosixPath
    root: Path | None  # the folder INPUT or glob base it was found under; None for a loose file


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _under(path: Path, folder: Path | None) -> bool:
    return folder is not None and (path == folder or folder in path.parents)


def _walk(root: Path, skip: Path | None) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _under(resolved(here / d), skip))
        found += [here / name for name in sorted(files) if not name.startswith(".") and _is_image(here / name)]
    return found


def _glob_base(pattern: str) -> Path:
    """The fixed folder a glob pattern searches: its leading parts without wildcards."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if any(c in part for c in GLOB_CHARS):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def find_sources(inputs: Sequence[str | os.PathLike], skip: Path | None = None) -> list[Source]:
    """Every image file that ``inputs`` name, in order, each once.

    Folders are searched recursively for files with an image suffix; a file named
    directly is taken whatever its suffix. A folder or pattern does not take files from
    ``skip`` (the output folder) when it lies inside the folder searched, so a re-run
    never colours its own results. Raises ``FileNotFoundError`` for an input that is not
    a file, a folder or a pattern that matches image files.
    """
    skip = resolved(Path(skip)) if skip is not None else None

    def inner(root: Path) -> Path | None:  # skip, when strictly inside root
        root = resolved(root)
        return skip if skip is not None and skip != root and root in skip.parents else None

    sources: list[Source] = []
    seen: set[Path] = set()
    for given in inputs:
        text = os.path.expanduser(os.fspath(given))
        path = Path(text)
        if path.is_dir():
            found = [Source(p, PurePosixPath(p.relative_to(path).as_posix()), path) for p in _walk(path, inner(path))]
        elif path.is_file():
            found = [Source(path, PurePosixPath(path.name), None)]
        elif any(c in text for c in GLOB_CHARS):
            base = _glob_base(text)
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            matches = [m for m in matches if m.is_file() and _is_image(m) and not _under(resolved(m), inner(base))]
            if not matches:
                raise FileNotFoundError(f"{given}: the pattern matches no image files "
                                        f"({', '.join(IMAGE_SUFFIXES)}). Check the pattern; quote it so "
                                        f"the shell passes it on as written.")
            found = [Source(m, PurePosixPath(m.relative_to(base).as_posix()), base) for m in matches]
        else:
            raise FileNotFoundError(f"{given}: no such file or folder. Pass sketch files, folders of "
                                    f"them, or a quoted glob pattern such as 'art/**/*.png'.")
        for source in found:
            key = resolved(source.path)
            if key not in seen:
                seen.add(key)
                sources.append(source)
    return sources


def check_output_folder(inputs: Sequence[str | os.PathLike], sources: Sequence[Source], out: Path) -> None:
    """Refuse an output folder that is an input folder, inside one, or the folder of an input file."""
    target = resolved(Path(out))
    for given in inputs:
        folder = Path(os.path.expanduser(os.fspath(given)))
        if folder.is_dir() and _under(target, resolved(folder)):
            raise ValueError(f"-o {out} is inside the input folder {given}, and colorize run does not write "
                             f"into its input. Choose an output folder outside {given}, or pass "
                             f"--allow-inside-input.")
    for source in sources:
        if resolved(source.path).parent == target:
            raise ValueError(f"-o {out} is the folder that holds the input {source.path}, and colorize run "
                             f"does not write beside its input. Choose another output folder, or pass "
                             f"--allow-inside-input.")
