"""Which tags each input sketch gets, from the first that applies:

``tags`` for every sketch; its row in a tags file (CSV/TSV/JSONL, see
:mod:`colorize.data.tagfiles`); its sidecar ``.txt`` / ``.json``; else none.

    resolve = TagResolver(tags_file=Path("tags.csv")); tags, origin = resolve(source)
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from pathlib import Path

from colorize.fileio import resolved
from colorize.data.tagfiles import load_tag_table, sidecar_tags
from colorize.data.tags import parse_tags
from colorize.infer.inputs import Source

__all__ = ["TagResolver"]


def _norm_key(key: str) -> str:
    return posixpath.normpath(key.replace("\\", "/"))


class TagResolver:
    """Which tags each input gets: ``tags`` for all; else its tags-file row; else its sidecar.

    A tags-file key may be the file's path under its input folder (as ``data import``
    reads them), its path as found, a path relative to the tags file's folder, an
    absolute path, or a bare file name (then it tags every input of that name).
    """

    def __init__(self, tags: str | Sequence[str] | None = None, tags_file: Path | None = None):
        if tags is not None and tags_file is not None:
            raise ValueError("--tags gives every sketch the same tags and --tags-file gives each its own; "
                             "pass one of them, not both.")
        self.tags = None if tags is None else parse_tags(tags)
        self.tags_file = None if tags_file is None else Path(tags_file)
        self.table = load_tag_table(self.tags_file) if self.tags_file is not None else {}
        self.used: set[str] = set()
        self._by_path: dict[str, str] = {}
        self._by_file: dict[Path, str] = {}
        by_name: dict[str, list[str]] = {}
        for key in self.table:
            self._by_path.setdefault(_norm_key(key), key)
            written = Path(os.path.expanduser(key))
            for candidate in (written, self.tags_file.parent / written) if not written.is_absolute() else (written,):
                self._by_file.setdefault(resolved(candidate), key)
            if "/" not in _norm_key(key):
                by_name.setdefault(_norm_key(key), []).append(key)
        self._by_name = {name: keys[0] for name, keys in by_name.items() if len(keys) == 1}

    def _row(self, source: Source) -> str | None:
        for key in (self._by_path.get(str(source.rel)), self._by_path.get(_norm_key(str(source.path))),
                    self._by_file.get(resolved(source.path)), self._by_name.get(source.path.name)):
            if key is not None:
                return key
        return None

    def __call__(self, source: Source) -> tuple[list[str], str]:
        """``(tags, where they came from)``; raises :class:`TagFileError` for a broken sidecar."""
        if self.tags is not None:
            return self.tags, "--tags"
        key = self._row(source)
        if key is not None:
            self.used.add(key)
            return parse_tags(self.table[key]), f"{self.tags_file.name} row {key!r}"
        tags, sidecar = sidecar_tags(source.path)
        if sidecar is not None:
            return parse_tags(tags), f"sidecar {Path(sidecar).name}"
        return [], "none"

    def unmatched(self) -> list[str]:
        return [key for key in self.table if key not in self.used]
