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

Every row is checked when the manifest is loaded, so a bad one stops a command before
its first training step, not hours into it:

- **A malformed row fails the load** with :class:`ManifestError` (a ``ValueError``) that
  names the manifest, the line and what is wrong: a line that is not JSON or not a JSON
  object (``42``, ``[...]``, ``null``); a required field missing; ``id``, ``color`` or
  ``sketch`` not a string (``sketch`` may be null: line art extracted while training);
  ``tags`` not a list of strings (``null``, ``"red hair"``, ``["red", 3]``; a string is
  refused, not split: it would be read letter by letter); ``split`` not one of
  ``train``, ``val``, ``excluded``; an optional field of the wrong type (``drawing`` a
  string or null, ``source`` and ``original`` strings, ``is_flag`` and ``aligned``
  booleans, ``width`` and ``height`` integers, ``extractor`` a known line extractor
  where ``sketch`` is null). Other fields are ignored.
- **A row whose image file is missing is skipped**, and reported: its line and path go to
  :attr:`Manifest.missing`, and one warning on the ``colorize`` logger gives the count
  and the first few (each missing row is reported once per process, however many times
  the manifest is opened). Only the selected splits are checked, with one ``stat`` per
  image. When *every* selected row is missing its images, the load fails with
  ``FileNotFoundError``: the images were moved, or never built. An image that exists
  but cannot be decoded is found only when it is read
  (:class:`~colorize.data.dataset.PairDataset` raises ``OSError`` naming it; the trainer
  saves a checkpoint on the way out).

    rows = Manifest("data/openmoji", split="train"); row = rows[0]
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from colorize.fileio import atomic_write_text

__all__ = ["MANIFEST_NAME", "SPLITS", "Manifest", "ManifestError", "has_artist_lines", "reference_rows",
           "resolve_manifest", "split_for", "write_manifest"]

log = logging.getLogger("colorize")

MANIFEST_NAME = "manifest.jsonl"
SPLITS = ("train", "val", "excluded")
REQUIRED = ("id", "sketch", "color", "tags", "split")
# optional fields the code reads, and the JSON types they may have (None: null is allowed)
OPTIONAL = {"drawing": (str, None), "source": (str,), "original": (str,), "extractor": (str, None), "line_art": (str,),
            "is_flag": (bool,), "aligned": (bool,), "width": (int,), "height": (int,)}
SHOW_MISSING = 3  # how many missing images a warning names
_reported: set[tuple[str, int]] = set()  # (manifest, line) of missing images already warned about


class ManifestError(ValueError):
    """A manifest row that cannot be used; the message names the file, the line and the fix."""


def _json_type(value) -> str:
    """The JSON name of ``value``'s type, for messages: ``a number``, ``a string``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _described(value) -> str:
    """``value``'s JSON type and the value as it stands in the line, cut short: ``a number (3)``."""
    if value is None:
        return "null"
    text = json.dumps(value, ensure_ascii=False)
    return f"{_json_type(value)} ({text if len(text) <= 40 else text[:37] + '...'})"


def _problem(row) -> str | None:
    """What is wrong with one parsed row, or None when it is usable."""
    if not isinstance(row, dict):
        return f"expected a JSON object, one row {{\"id\": ...}}, got {_described(row)}"
    missing = [k for k in REQUIRED if k not in row]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    for key in ("id", "color", "sketch"):
        value = row[key]
        if not (isinstance(value, str) and value) and not (key == "sketch" and value is None):
            want = "a path or null" if key == "sketch" else "an id" if key == "id" else "a path"
            got = "empty" if value == "" else _described(value)
            return f"{key} is {got}, not {want}"
    tags = row["tags"]
    if isinstance(tags, str):
        return (f"tags is {_described(tags)}, not a list of strings; write it as a list, "
                f"e.g. [\"red hair\", \"smile\"] (a string would be read letter by letter)")
    if not isinstance(tags, list):
        return f"tags is {_described(tags)}, not a list of strings (write [] for no tags)"
    for i, tag in enumerate(tags):
        if not isinstance(tag, str):
            return f"tags[{i}] is {_described(tag)}; every tag must be a string"
    if row["split"] not in SPLITS:
        return f"split is {_described(row['split'])}, not one of {', '.join(SPLITS)}"
    for key, types in OPTIONAL.items():
        if key not in row:
            continue
        value = row[key]
        allowed = tuple(t for t in types if t is not None)
        if value is None:
            ok = None in types
        else:  # a JSON true is a Python int too; it is no width
            ok = isinstance(value, allowed) and (bool in allowed or not isinstance(value, bool))
        if not ok:
            names = " or ".join({str: "a string", bool: "a boolean", int: "an integer", None: "null"}[t] for t in types)
            return f"{key} is {_described(value)}, not {names}"
    if row["sketch"] is None and row.get("extractor") is not None:  # it draws this row's line art
        from colorize.data.extract import CHOICES

        if row["extractor"] not in CHOICES:
            return f"extractor is {_described(row['extractor'])}, not one of {', '.join(CHOICES)}"
    return None


def split_for(key: str, val_fraction: float = 0.1) -> str:
    """``'val'`` for about ``val_fraction`` of keys, else ``'train'``; a pure function of ``key``.

    Coming from a hash, a key's split never changes when other rows are added or removed.
    """
    bucket = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2**64
    return "val" if bucket < val_fraction else "train"


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

    Raises :class:`ManifestError` on a malformed row, ``FileNotFoundError`` when no
    selected row has its images. Rows of the selection whose images are missing are
    left out; ``missing`` lists them as ``(line, path)``.
    """

    def __init__(self, path: str | os.PathLike, split: str | tuple[str, ...] | None = None):
        self.path = resolve_manifest(path)
        self.root = self.path.parent
        wanted = None if split is None else ({split} if isinstance(split, str) else set(split))
        if wanted is not None and not wanted <= set(SPLITS):
            raise ValueError(f"unknown split {sorted(wanted - set(SPLITS))}; choose from {', '.join(SPLITS)}")
        offsets = []
        self.missing: list[tuple[int, str]] = []  # (line, image path) of rows skipped for a missing image
        selected = 0
        with open(self.path, "rb") as f:
            offset = 0
            for number, line in enumerate(f, start=1):
                if line.strip():
                    row = self._parse(line, number)
                    if wanted is None or row["split"] in wanted:
                        selected += 1
                        gone = self._missing_image(row)
                        if gone is None:
                            offsets.append(offset)
                        else:
                            self.missing.append((number, gone))
                offset += len(line)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._file = None
        self._pid = None
        if self.missing and not offsets:
            raise FileNotFoundError(
                f"{self.path}: the image files of all {selected} row(s) are missing "
                f"({self.describe_missing()}). Pass the folder the manifest was built in, "
                f"or rebuild the dataset.")
        self._report_missing()

    def _parse(self, line: bytes, number: int | str) -> dict:
        """One row, checked; ``number`` is its line (or, read back later, where it starts)."""
        where = f"line {number}" if isinstance(number, int) else f"the row {number}"
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            reason = e.msg if isinstance(e, json.JSONDecodeError) else "not UTF-8"
            raise ManifestError(f"{self.path}, {where}: not valid JSON ({reason}). "
                                f"Fix {where} or rebuild the dataset.") from None
        problem = _problem(row)
        if problem is not None:
            raise ManifestError(f"{self.path}, {where}: {problem}. Fix {where} or rebuild the dataset.")
        return row

    def _missing_image(self, row: dict) -> str | None:
        """The first of a row's image paths (as the manifest gives it) with no file, or None."""
        for key in ("sketch", "color"):
            if row[key] is not None and not os.path.isfile(self.root / row[key]):
                return row[key]
        return None

    def describe_missing(self, missing: list[tuple[int, str]] | None = None) -> str:
        """``e.g. line 12: sketch/x.png, line 15: color/y.png``: the first few of ``missing``
        (default: :attr:`missing`)."""
        missing = self.missing if missing is None else missing
        shown = ", ".join(f"line {number}: {path}" for number, path in missing[:SHOW_MISSING])
        return f"e.g. {shown}" + (", ..." if len(missing) > SHOW_MISSING else "")

    def _report_missing(self) -> None:
        """One warning for the skipped rows not reported before in this process."""
        new = [(n, p) for n, p in self.missing if (str(self.path), n) not in _reported]
        if not new:
            return
        _reported.update((str(self.path), n) for n, _ in new)
        log.warning(f"{self.path}: {len(new)} row(s) skipped: their image files are missing, "
                    f"{self.describe_missing(new)}. Restore the files or rebuild the dataset.")

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index: int) -> dict:
        if self._file is None or self._pid != os.getpid():  # one handle per process, reopened after fork
            self.close()  # a forked child's copy of its parent's handle: closing it closes only the copy
            self._file = open(self.path, "rb")
            self._pid = os.getpid()
        self._file.seek(int(self._offsets[index]))
        return self._parse(self._file.readline(), f"at byte {self._offsets[index]}")

    def __iter__(self) -> Iterator[dict]:
        for i in range(len(self)):
            yield self[i]

    def close(self) -> None:
        """Close the read handle; a later row read opens it again."""
        handle = getattr(self, "_file", None)  # absent when __init__ raised
        if handle is not None:
            handle.close()
            self._file = None

    def __del__(self) -> None:  # a forked child closes only its own copy of the descriptor
        self.close()

    def __getstate__(self) -> dict:  # file handles do not pickle; workers reopen their own
        return {**self.__dict__, "_file": None, "_pid": None}

    def image_path(self, row: dict, key: str) -> Path:
        """Absolute path of a row's ``'sketch'`` or ``'color'`` image."""
        return self.root / row[key]


def reference_rows(rows: Iterable[dict]) -> dict[str, str]:
    """For every row id, the id of its drawing's *reference member*: the row with the fewest
    tags, ties broken by id. Of an emoji's skin-tone colourings that is the toneless one,
    so lines drawn from it say nothing about the tone (``waving hand`` for
    ``waving hand, dark skin tone``). A row without a ``drawing`` is its own reference."""
    best: dict[str, tuple[int, str]] = {}
    drawing_of = {}
    for row in rows:
        drawing = row.get("drawing") or row["id"]
        drawing_of[row["id"]] = drawing
        key = (len(row["tags"]), row["id"])
        if drawing not in best or key < best[drawing]:
            best[drawing] = key
    return {row_id: best[drawing][1] for row_id, drawing in drawing_of.items()}


def has_artist_lines(row: dict) -> bool:
    """Whether the row's stored sketch is line art an artist drew (OpenMoji's line layer, an
    SVG's own outlines, a monotone set), not lines an extractor made from the colour picture."""
    return row["sketch"] is not None and row.get("line_art") in (None, "artist", "vector")
