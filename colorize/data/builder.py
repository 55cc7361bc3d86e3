"""What every dataset builder shares: the ``dataset.json`` it leaves, and the check that a
re-run fits the build already in the folder.

A builder (``data openmoji``, ``data import``, ``data openclipart``) writes images and a
manifest (:mod:`colorize.data.manifest`) into its folder, and ends by describing the build
in ``dataset.json``: which source, at what size, how many rows per split, what failed,
and the builder's own settings. A later run into the same folder first calls
:func:`check_previous`, so that images of another size or from another source are never
mixed into one dataset.

    previous = check_previous(out, "import", size, fix="Import into another --out, or pass --size {previous}.")
    ...
    write_build_info(out, "import", size, splits, extractor="mixed", last_run={...})
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import colorize
from colorize.fileio import atomic_write_text, read_json_object

__all__ = ["INFO_NAME", "check_previous", "read_build_info", "write_build_info"]

INFO_NAME = "dataset.json"


def read_build_info(folder: str | os.PathLike) -> dict:
    """The ``dataset.json`` a builder left in ``folder``; empty when there is none or it is unreadable."""
    return read_json_object(Path(folder) / INFO_NAME)


def check_previous(out: Path, source: str, size: int, fix: str, force: bool = False) -> dict:
    """The previous build's info in ``out`` (empty for a new folder).

    Raises ``ValueError`` when ``out`` holds another source's dataset, or (unless ``force``)
    images of another size; ``fix`` is the sentence that says what to do about the size,
    with ``{size}`` and ``{previous}`` filled in.
    """
    previous = read_build_info(out)
    if previous.get("source") not in (None, source):
        raise ValueError(f"{out} holds a {previous['source']!r} dataset, and this is a {source!r} build. "
                         f"Choose another --out.")
    if not force and previous.get("size") not in (None, size):
        raise ValueError(f"{out} holds {previous['size']}-px images and this build is {size} px. "
                         + fix.format(size=size, previous=previous["size"]))
    return previous


def write_build_info(out: Path, source: str, size: int, splits: dict[str, int], **fields) -> dict:
    """Describe a finished build in ``out/dataset.json`` (atomically): the source, the size,
    the rows per split, the builder's own ``fields`` and the colorize version; returns it."""
    info = {"source": source, "size": size, "rows": sum(splits.values()), "splits": dict(sorted(splits.items())),
            **fields, "colorize_version": colorize.__version__}
    atomic_write_text(Path(out) / INFO_NAME, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    return info
