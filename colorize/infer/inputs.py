"""Which files a run colours, and where their results may go.

Inputs are files, folders (searched recursively for image files by
:func:`colorize.folders.walk_images`: hidden folders skipped, symlinked folders followed
once, unreadable folders reported) and glob patterns (``art/**/*.png``), each file taken
once. A name that is no regular file (a FIFO, a device or a socket called ``*.png``) is
skipped with a note, since opening it would wait forever. Each file becomes a
:class:`Source` that remembers its path under the folder or pattern it was found by, so
the output tree can mirror the input tree.
:func:`check_output_folder` refuses an output folder that would put results among the
inputs: inside an input folder, or inside a pattern's fixed folder.

    found = find_sources(["sketches/", "more/**/*.png"], skip=Path("out"))
    found.sources, found.problems
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from colorize.data.images import IMAGE_SUFFIXES
from colorize.fileio import resolved
from colorize.folders import not_regular, under, walk_images

__all__ = ["GLOB_CHARS", "Found", "Source", "check_output_folder", "find_sources", "glob_base"]

GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Source:
    """One input file: where it is, and its path under its input (which the output mirrors)."""

    path: Path
    rel: PurePosixPath
    root: Path | None  # the folder INPUT or glob base it was found under; None for a loose file


@dataclass
class Found:
    """The files a run's inputs name, and the folders among them that could not be searched."""

    sources: list[Source] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)  # (folder, what is wrong): failures
    notes: list[tuple[Path, str]] = field(default_factory=list)  # (folder, what was done): not failures


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def glob_base(pattern: str) -> Path:
    """The fixed folder a glob pattern searches: its leading parts without wildcards."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if any(c in part for c in GLOB_CHARS):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _under_base(match: Path, base: Path) -> PurePosixPath:
    """A glob match's path under the pattern's fixed folder, with ``..`` parts folded away;
    a match that ``..`` leads out of that folder (``art/*/../../other/*.png``) keeps only
    its name, as a file named on its own does."""
    rel = PurePosixPath(os.path.normpath(match.relative_to(base)).replace(os.sep, "/"))
    return PurePosixPath(match.name) if rel.parts[0] == ".." else rel


def find_sources(inputs: Sequence[str | os.PathLike], skip: Path | None = None) -> Found:
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

    result = Found()
    seen: set[Path] = set()
    for given in inputs:
        text = os.path.expanduser(os.fspath(given))
        path = Path(text)
        if path.is_dir():
            walk = walk_images(path, IMAGE_SUFFIXES, skip=inner(path))
            result.problems += walk.problems
            result.notes += walk.notes
            found = [Source(p, PurePosixPath(p.relative_to(path).as_posix()), path) for p in walk.files]
        elif path.is_file():
            found = [Source(path, PurePosixPath(path.name), None)]
        elif (kind := not_regular(path)) is not None:  # a FIFO or device: reading it would block forever
            result.notes.append((path, f"is {kind}, not an image file; skipped"))
            found = []
        elif any(c in text for c in GLOB_CHARS):
            base = glob_base(text)
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            matches = [m for m in matches if _is_image(m) and not m.is_dir() and not under(resolved(m), inner(base))]
            odd = [m for m in matches if not m.is_file() and m.exists()]  # FIFOs, devices, sockets
            result.notes += [(m, f"is {not_regular(m)}, not an image file; skipped") for m in odd]
            matches = [m for m in matches if m.is_file()]
            if not matches and not odd:
                raise FileNotFoundError(f"{given}: the pattern matches no image files "
                                        f"({', '.join(IMAGE_SUFFIXES)}). Check the pattern; quote it so "
                                        f"the shell passes it on as written.")
            found = [Source(m, _under_base(m, base), base) for m in matches]
        else:
            raise FileNotFoundError(f"{given}: no such file or folder. Pass sketch files, folders of "
                                    f"them, or a quoted glob pattern such as 'art/**/*.png'.")
        for source in found:
            key = resolved(source.path)
            if key not in seen:
                seen.add(key)
                result.sources.append(source)
    notes, told = [], set()  # a FIFO found by a folder and by a pattern is named once
    for folder, message in result.notes:
        if (resolved(folder), message) not in told:
            told.add((resolved(folder), message))
            notes.append((folder, message))
    result.notes = notes
    return result


def check_output_folder(inputs: Sequence[str | os.PathLike], sources: Sequence[Source], out: Path) -> None:
    """Refuse an output folder that is an input folder, inside one, inside a pattern's fixed
    folder (``art/`` for ``art/**/*.png``), or the folder of an input file."""
    target = resolved(Path(out))
    for given in inputs:
        text = os.path.expanduser(os.fspath(given))
        folder = Path(text)
        if folder.is_dir() and under(target, resolved(folder)):
            raise ValueError(f"-o {out} is inside the input folder {given}, and colorize run does not write "
                             f"into its input. Choose an output folder outside {given}, or pass "
                             f"--allow-inside-input.")
        if not folder.exists() and any(c in text for c in GLOB_CHARS):
            base = glob_base(text)
            if under(target, resolved(base)):
                raise ValueError(f"-o {out} is inside {base}, the folder the pattern {given} searches, and "
                                 f"colorize run does not write among its inputs. Choose an output folder "
                                 f"outside {base}, or pass --allow-inside-input.")
    for source in sources:
        if resolved(source.path).parent == target:
            raise ValueError(f"-o {out} is the folder that holds the input {source.path}, and colorize run "
                             f"does not write beside its input. Choose another output folder, or pass "
                             f"--allow-inside-input.")
