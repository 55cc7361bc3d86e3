"""Where `colorize run` writes, and what a failure leaves: every output lands inside -o, and
a file's outputs (PNG, sheet, ORA, PSD, region map) are written all together or not at all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize.cli import main
from colorize.fileio import OutsideFolder, atomic_write_together, inside

SKETCH = "1F469-200D-1F9B0"  # woman: red hair, from the test dataset


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def run(*args) -> object:
    return CliRunner().invoke(main, ["run", *map(str, args)])


def test_inside_refuses_paths_that_resolve_out_of_the_folder(tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (out / "link").symlink_to(tmp_path / "elsewhere")
    assert inside(out, "sub/a.png") == out / "sub" / "a.png"
    assert inside(out, "sub/../a.png") == out / "sub" / ".." / "a.png", "'..' that stays inside is fine"
    for rel in ["../a.png", "sub/../../a.png", str(tmp_path / "a.png"), "link/a.png"]:
        with pytest.raises(OutsideFolder, match="outside"):
            inside(out, rel)


def test_a_glob_through_dotdot_writes_inside_o(tmp_path, dataset, tiny_model, monkeypatch):
    """'a/b/*/../../../src2/*.png' once wrote o/sub/../../../src2/x.png: beside the inputs,
    outside o/ and the working folder. The match keeps its name alone, under o/."""
    work = tmp_path / "work"
    (work / "a" / "b" / "sub").mkdir(parents=True)
    (work / "src2").mkdir()
    shutil.copy(dataset / "sketch" / f"{SKETCH}.png", work / "src2" / "x.png")
    monkeypatch.chdir(work)
    result = run("a/b/*/../../../src2/*.png", "-o", "o", "--model", tiny_model, "--no-progress")
    assert result.exit_code == 0, result.output
    assert files_under(tmp_path) == ["work/o/x.png", "work/src2/x.png"]


def test_a_symlink_under_o_that_leads_out_is_not_written_through(tmp_path, dataset, tiny_model):
    src, out, elsewhere = tmp_path / "src", tmp_path / "out", tmp_path / "elsewhere"
    (src / "sub").mkdir(parents=True)
    shutil.copy(dataset / "sketch" / f"{SKETCH}.png", src / "sub" / "x.png")
    shutil.copy(dataset / "sketch" / f"{SKETCH}.png", src / "y.png")
    out.mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)
    result = run(src, "-o", out, "--model", tiny_model, "--no-progress")
    assert result.exit_code == 1, result.output
    assert "1 coloured, 1 failed" in result.output
    assert "outside" in result.output and "x.png" in result.output
    assert files_under(elsewhere) == [], "nothing is written through the link"
    assert (out / "y.png").is_file(), "the other file goes on"


def grid(side: int, step: int) -> np.ndarray:
    """One-pixel black lines every ``step`` pixels: (side / step)^2 closed regions."""
    image = np.full((side, side), 255, np.uint8)
    image[::step, :] = 0
    image[:, ::step] = 0
    return image


def test_a_file_that_fails_part_way_leaves_nothing_and_is_tried_again(tmp_path, dataset, tiny_model):
    """Over 65,535 regions fit no 16-bit region map: the PNG, ORA and PSD were written
    before the map failed, and the re-run then skipped the file as done."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    Image.fromarray(grid(1040, 4)).save(src / "grid.png")  # 260 x 260 = 67,600 regions
    shutil.copy(dataset / "sketch" / f"{SKETCH}.png", src / "fine.png")
    args = (src, "-o", out, "--model", tiny_model, "--no-progress", "--layers", "--layers-format", "both",
            "--side-by-side")
    first = run(*args)
    assert first.exit_code == 1, first.output
    assert "1 coloured, 1 failed, 0 skipped" in first.output and "16-bit" in first.output
    assert files_under(out) == ["fine.ora", "fine.png", "fine.psd", "fine.regions.png", "fine.side.png"]
    again = run(*args)
    assert "0 coloured, 1 failed, 1 skipped" in again.output, again.output
    assert files_under(out) == ["fine.ora", "fine.png", "fine.psd", "fine.regions.png", "fine.side.png"]


def test_write_together_leaves_every_old_file_when_one_fails(tmp_path):
    first, second, blocked = tmp_path / "a.png", tmp_path / "a.ora", tmp_path / "file" / "a.psd"
    first.write_bytes(b"old a")
    second.write_bytes(b"old ora")
    (tmp_path / "file").write_bytes(b"a file where a folder should be")
    with pytest.raises(OSError):
        atomic_write_together({first: b"new a", second: b"new ora", blocked: b"new psd"})
    assert first.read_bytes() == b"old a" and second.read_bytes() == b"old ora"
    assert sorted(os.listdir(tmp_path)) == ["a.ora", "a.png", "file"], "no temporary file is left"
    (tmp_path / "a.psd").mkdir()  # a folder in the way is found before any file is moved
    with pytest.raises(IsADirectoryError):
        atomic_write_together({first: b"new a", second: b"new ora", tmp_path / "a.psd": b"new psd"})
    assert first.read_bytes() == b"old a" and second.read_bytes() == b"old ora"
    assert sorted(os.listdir(tmp_path)) == ["a.ora", "a.png", "a.psd", "file"], "no temporary file is left"
    atomic_write_together({first: b"new a", second: b"new ora"})
    assert first.read_bytes() == b"new a" and second.read_bytes() == b"new ora"
