"""The dataset manifest: one JSON line per line-art / colour / tags pair.

Every dataset this tool builds (``data openmoji``, later ``data import``) writes the same
format, so training and evaluation read any of them unchanged. A dataset is a folder:

    data/openmoji/
        manifest.jsonl     one row per pair (fields below)
        dataset.json       how it was built: source, size, counts, licence
        sketch/ID.png      line art, RGB, dark lines on white
        color/ID.png       the coloured image, RGB on white

Row fields: ``id``, ``sketch`` and ``color`` (paths relative to the manifest), ``tags``
(list of canonical tags), ``drawing`` (rows with the same line art share it), ``split``
(``train``, ``val`` or ``excluded``), ``is_flag``, ``aligned`` (the sketch's black lines are
black in the colour image too) and ``source``.

Reading is lazy: :class:`Manifest` keeps only the byte offset of each selected row (8 bytes
a row, in one NumPy array, so forked DataLoader workers share it without copy-on-write
growth) and parses a row when it is asked for.

    rows = Manifest("data/openmoji", split="train"); row = rows[0]
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from colorize.fileio import atomic_write_text

__all__ = ["MANIFEST_NAME", "SPLITS", "Manifest", "read_build_info", "resolve_manifest", "split_for", "write_manifest"]

MANIFEST_NAME = "manifest.jsonl"
SPLITS = ("train", "val", "excluded")
REQUIRED = ("id", "sketch", "color", "tags", "split")


def split_for(key: str, val_fraction: float = 0.1) -> str:
    """``'val'`` for about ``val_fraction`` of keys, else ``'train'``; a pure function of ``key``.

    Coming from a hash, a key's split never changes when other rows are added or removed.
    """
    bucket = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2**64
    return "val" if bucket < val_fraction else "train"


def read_build_info(folder: str | os.PathLike) -> dict:
    """The ``dataset.json`` a builder left in ``folder``; empty when there is none or it is unreadable."""
    try:
        info = json.loads((Path(folder) / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def resolve_manifest(path: str | os.PathLike) -> Path:
    """Accept a dataset folder or its manifest file; raise ``FileNotFoundError`` with the fix."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no dataset manifest here. Build one with `colorize data openmoji --out DIR` "
            f"and pass DIR (or DIR/{MANIFEST_NAME})."
        )
    return path


def write_manifest(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write ``rows`` as JSON lines, atomically, sorted by id so rebuilds give the same bytes."""
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in sorted(rows, key=lambda r: r["id"])]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


class Manifest:
    """Random access to the rows of one manifest, optionally only those of some splits.

    Args:
        path: the dataset folder or its ``manifest.jsonl``.
        split: a split name, a tuple of them, or None for every row.
    """

    def __init__(self, path: str | os.PathLike, split: str | tuple[str, ...] | None = None):
        self.path = resolve_manifest(path)
        self.root = self.path.parent
        wanted = None if split is None else ({split} if isinstance(split, str) else set(split))
        if wanted is not None and not wanted <= set(SPLITS):
            raise ValueError(f"unknown split {sorted(wanted - set(SPLITS))}; choose from {', '.join(SPLITS)}")
        offsets = []
        with open(self.path, "rb") as f:
            offset = 0
            for number, line in enumerate(f, start=1):
                if line.strip():
                    row = self._parse(line, number)
                    if wanted is None or row["split"] in wanted:
                        offsets.append(offset)
                offset += len(line)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._file = None
        self._pid = None

    def _parse(self, line: bytes, number: int | str) -> dict:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{self.path}, line {number}: not valid JSON ({e.msg}). Rebuild the dataset.") from None
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise ValueError(f"{self.path}, line {number}: missing field(s) {', '.join(missing)}. Rebuild the dataset.")
        return row

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index: int) -> dict:
        if self._file is None or self._pid != os.getpid():  # one handle per process, reopened after fork
            self._file = open(self.path, "rb")
            self._pid = os.getpid()
        self._file.seek(int(self._offsets[index]))
        return self._parse(self._file.readline(), f"at byte {self._offsets[index]}")

    def __iter__(self) -> Iterator[dict]:
        for i in range(len(self)):
            yield self[i]

    def __getstate__(self) -> dict:  # file handles do not pickle; workers reopen their own
        return {**self.__dict__, "_file": None, "_pid": None}

    def image_path(self, row: dict, key: str) -> Path:
        """Absolute path of a row's ``'sketch'`` or ``'color'`` image."""
        return self.root / row[key]
