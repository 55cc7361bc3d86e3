"""The command line: help, version, and the contact sheet."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from PIL import Image

import colorize
from colorize.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and colorize.__version__ in result.output


@pytest.mark.parametrize("args", [[], ["data"], ["data", "openmoji"], ["data", "show"]])
def test_every_help_reads(args):
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 5


def test_show_writes_a_sheet_and_will_not_overwrite(dataset, tmp_path):
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(main, ["data", "show", str(dataset), "-o", str(out), "--count", "6"])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.width > 200 and im.height > 100
        colours = im.getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50, "sheet holds images, not a blank page"
    again = CliRunner().invoke(main, ["data", "show", str(dataset), "-o", str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_show_by_id_and_unknown_id(dataset, tmp_path):
    ok = CliRunner().invoke(main, ["data", "show", str(dataset), "-o", str(tmp_path / "a.png"),
                                   "--id", "1F49A", "--id", "1F499"])
    assert ok.exit_code == 0 and "2 pairs" in ok.output
    bad = CliRunner().invoke(main, ["data", "show", str(dataset), "-o", str(tmp_path / "b.png"), "--id", "NOPE"])
    assert bad.exit_code != 0 and "NOPE" in bad.output


def test_show_on_a_folder_without_a_manifest(tmp_path):
    result = CliRunner().invoke(main, ["data", "show", str(tmp_path), "-o", str(tmp_path / "s.png")])
    assert result.exit_code != 0 and "colorize data openmoji" in result.output


def test_outputs_get_ordinary_file_permissions(tmp_path):
    import os

    from colorize.fileio import atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"], "no temporary file left behind"
