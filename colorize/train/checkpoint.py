"""Run folders, and finding the checkpoint that ``--resume`` names.

A run folder ``checkpoints/00012-NAME`` is numbered and never reused; its resolved
``config.json`` is written before anything else. Writing and reading checkpoints and
exports is :mod:`colorize.models.io`'s job.

    run = new_run_dir("checkpoints", "cpu")
    path = find_checkpoint("latest", runs_dir="checkpoints")
"""

from __future__ import annotations

import re
from pathlib import Path

from colorize.models.io import list_checkpoints

__all__ = ["new_run_dir", "find_checkpoint"]

_RUN = re.compile(r"^(\d{5})-")


def new_run_dir(runs_dir: str | Path, name: str) -> Path:
    """Create and return the next numbered run folder, e.g. ``checkpoints/00003-cpu``."""
    runs = Path(runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in runs.iterdir() if (m := _RUN.match(p.name))]
    number = max(numbers, default=-1) + 1
    while True:  # exist_ok=False: two runs starting together never share a folder
        run = runs / f"{number:05d}-{name}"
        try:
            run.mkdir()
            return run
        except FileExistsError:
            number += 1


def find_checkpoint(resume: str | Path, runs_dir: str | Path = "checkpoints") -> Path:
    """Resolve ``--resume``: ``latest`` (newest checkpoint of the newest run), a run folder, or a file."""
    if str(resume) == "latest":
        runs = sorted((p for p in Path(runs_dir).glob("*") if _RUN.match(p.name) and p.is_dir()), reverse=True)
        for run in runs:
            found = list_checkpoints(run / "checkpoints")
            if found:
                return found[-1]
        raise FileNotFoundError(f"{runs_dir}: no run with a checkpoint to resume. Start one without --resume.")
    path = Path(resume)
    if path.is_dir():
        found = list_checkpoints(path / "checkpoints") or list_checkpoints(path)
        if not found:
            raise FileNotFoundError(f"{path}: no checkpoints in this run folder")
        return found[-1]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint or run folder")
    return path
