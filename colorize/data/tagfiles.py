"""Where tags live beside images: sidecar captions, gallery-dl metadata, and manifest files.

* ``image.txt`` (or ``image.png.txt``): comma-separated tags, the kohya-ss convention.
* ``image.png.json`` (or ``image.json``): gallery-dl ``--write-metadata`` output. Danbooru's
  ``tag_string_character``, ``tag_string_copyright`` and ``tag_string_general`` are read in
  that order (artist and meta tags say nothing about colour); without them, ``tag_string``
  or a ``tags`` string, list or dict of lists (other boorus).
* A CSV (columns ``path`` and ``tags``) or JSONL (keys ``path`` and ``tags``) that maps
  files to tags, for collections kept elsewhere.

A ``.txt`` caption wins over a ``.json`` file: it is the one a person wrote by hand.

    tags, note = sidecar_tags(Path("art/miku.png"))
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from colorize.data.tags import parse_tags

__all__ = ["TagFileError", "sidecar_tags", "load_tag_table", "tags_from_metadata"]

DANBOORU_KINDS = ("tag_string_character", "tag_string_copyright", "tag_string_general")
MAX_SIDECAR_BYTES = 1 << 20


class TagFileError(ValueError):
    """A tag file that cannot be read; the message names the file and the problem."""


def _sidecars(image: Path, suffix: str) -> list[Path]:
    return [image.with_name(image.name + suffix), image.with_suffix(suffix)]


def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        raise TagFileError(f"{path}: sidecar is over {MAX_SIDECAR_BYTES >> 10} KiB, not a tag file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise TagFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def tags_from_metadata(meta: dict) -> list[str]:
    """Tags from one gallery-dl metadata dict (Danbooru, Gelbooru, e621 and similar)."""
    if any(meta.get(k) for k in DANBOORU_KINDS):
        return parse_tags(" ".join(str(meta.get(k) or "") for k in DANBOORU_KINDS).split())
    for key in ("tag_string", "tags"):
        value = meta.get(key)
        if isinstance(value, str):
            # booru strings are space-separated with underscores inside tags
            return parse_tags(value.split() if "," not in value else value.split(","))
        if isinstance(value, list):
            return parse_tags(str(v) for v in value)
        if isinstance(value, dict):  # e621: {"general": [...], "character": [...], ...}
            kinds = ("character", "copyright", "species", "general")
            return parse_tags(str(t) for k in kinds for t in value.get(k, []) or [])
    return []


def sidecar_tags(image: Path) -> tuple[list[str], str | None]:
    """Tags for ``image`` from its sidecar files, and the sidecar's path (None when there is none).

    Raises :class:`TagFileError` when a sidecar exists but cannot be read.
    """
    for path in _sidecars(image, ".txt"):
        if path.is_file():
            return parse_tags(_read_text(path).replace("\n", ",")), str(path)
    for path in _sidecars(image, ".json"):
        if path.is_file():
            try:
                meta = json.loads(_read_text(path))
            except json.JSONDecodeError as e:
                raise TagFileError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
            except RecursionError:
                raise TagFileError(f"{path}: JSON nested too deeply to be metadata") from None
            if not isinstance(meta, dict):
                raise TagFileError(f"{path}: expected a JSON object of metadata, got {type(meta).__name__}")
            return tags_from_metadata(meta), str(path)
    return [], None


def load_tag_table(path: str | os.PathLike, lines: dict[str, int] | None = None) -> dict[str, list[str]]:
    """Read a CSV or JSONL that maps image paths to tags; keys are the paths as written.

    CSV needs a header with ``path`` (or ``file``) and ``tags`` columns; JSONL rows need
    ``path`` (or ``file``) and ``tags`` (a comma-separated string or a list). ``lines``, when
    given, is filled with each key's line number, for messages about a row.
    """
    path = Path(path)
    table: dict[str, list[str]] = {}
    lines = {} if lines is None else lines  # key -> the line that gave it, to name both of a duplicate

    def put(key: str, tags: list[str], number: int) -> None:
        if key in lines:
            raise TagFileError(f"{path}, line {number}: {key!r} already has tags on line {lines[key]}; "
                               f"give each image one row")
        lines[key] = number
        table[key] = tags

    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            with open(path, encoding="utf-8-sig") as f:
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except (json.JSONDecodeError, RecursionError) as e:
                        reason = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
                        raise TagFileError(f"{path}, line {number}: not valid JSON ({reason})") from None
                    if not isinstance(row, dict):
                        raise TagFileError(f"{path}, line {number}: expected an object such as "
                                           f'{{"path": "a.png", "tags": "red hair"}}, not a {type(row).__name__}')
                    put(_key(row, path, number), _row_tags(row.get("tags"), path, number), number)
        elif path.suffix.lower() in (".csv", ".tsv"):
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
                start = 1
                try:
                    _ = reader.fieldnames  # reads the header, so line_num counts from it
                    start = reader.line_num + 1
                    for row in reader:
                        number, start = start, reader.line_num + 1
                        if any("\n" in str(value) for value in row.values() if value is not None):
                            raise TagFileError(f"{path}, line {number}: a quote opened here is not closed, so the "
                                               f"rows after it would be read as part of this one; close the quote")
                        put(_key(row, path, number), _row_tags(row.get("tags"), path, number), number)
                except csv.Error as e:  # a field over csv's 128 KiB limit, say: not a tags file as written
                    raise TagFileError(f"{path}, line {start}: not readable as CSV ({e})") from None
        else:
            raise TagFileError(f"{path}: expected a .csv, .tsv or .jsonl file of (path, tags) rows")
    except UnicodeDecodeError as e:
        raise TagFileError(f"{path}: not UTF-8 text ({e.reason})") from None
    return table


def _row_tags(tags, path: Path, number: int) -> list[str]:
    """A row's tags: a comma-separated string or a list of strings (None: no tags)."""
    if tags is None:
        return []
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        return parse_tags(tags)
    if isinstance(tags, str):
        return parse_tags(tags)
    raise TagFileError(f"{path}, line {number}: tags must be a comma-separated string or a list of strings, "
                       f"not {json.dumps(tags)[:60]}")


def _key(row: dict, path: Path, number: int) -> str:
    key = row.get("path") or row.get("file")
    if not key:
        raise TagFileError(f"{path}, line {number}: no 'path' column/key; each row needs path and tags")
    if not isinstance(key, str):
        raise TagFileError(f"{path}, line {number}: the path must be a string, not {json.dumps(key)[:60]}")
    return key
