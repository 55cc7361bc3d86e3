"""`colorize data import` on a collection the tests make: formats, sidecars, bad files, re-runs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize.cli import main
from colorize.data.dataset import PairDataset
from colorize.data.images import ImageError, load_rgb
from colorize.data.importer import REPORT_NAME, import_folder
from colorize.data.manifest import Manifest, split_for


def art(dataset: Path, emoji_id: str) -> Image.Image:
    """A real colour illustration: an OpenMoji render from the built test dataset."""
    with Image.open(dataset / "color" / f"{emoji_id}.png") as im:
        return im.convert("RGB")


def huge_png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height``: what a decompression bomb looks like."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


GOOD = {  # file -> tags the import must give it
    "png/woman.png": ["woman", "red hair", "light skin tone"],
    "png/heart_rgba.png": ["green heart"],
    "jpeg/rotated.jpg": ["hatsune miku", "white hair"],
    "webp/heart.webp": ["blue heart"],
    "bmp/heart.bmp": ["red heart"],
    "gif/anim.gif": ["animated"],
    "modes/palette.png": ["palette"],
    "modes/grey16.png": ["grey"],
    "modes/grey.png": ["grey"],
    "modes/cmyk.jpg": ["cmyk"],
    "wide.png": ["wide"],
    "notags.png": [],
    "badjson.png": [],
    "deepjson.png": [],
    "table/listed.png": ["from table"],
}
BAD = {
    "bad/empty.png": "empty file",
    "bad/truncated.jpg": "corrupt or truncated",
    "bad/text.png": "not an image",
    "bad/bomb.png": "pixel limit",
}


@pytest.fixture(scope="module")
def collection(tmp_path_factory, dataset) -> Path:
    src = tmp_path_factory.mktemp("collection")
    for folder in ("png", "jpeg", "webp", "bmp", "gif", "modes", "bad", "table"):
        (src / folder).mkdir()
    woman = art(dataset, "1F469-1F3FB-200D-1F9B0")
    woman.save(src / "png/woman.png")
    (src / "png/woman.txt").write_text("woman, red_hair,  Light_Skin_Tone\n")
    # transparent background: must come out on white
    rgba = art(dataset, "1F49A").convert("RGBA")
    pixels = np.array(rgba)
    pixels[(pixels[..., :3] == 255).all(-1), 3] = 0
    Image.fromarray(pixels).save(src / "png/heart_rgba.png")
    (src / "png/heart_rgba.png.txt").write_text("green heart")
    # EXIF orientation 6 (rotate 90 clockwise to view), on a non-square picture
    tall = woman.crop((0, 0, 64, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    tall.save(src / "jpeg/rotated.jpg", exif=exif, quality=95)
    (src / "jpeg/rotated.jpg.json").write_text(json.dumps({
        "tag_string": "ignored_when_kinds_exist",
        "tag_string_character": "hatsune_miku", "tag_string_general": "white_hair",
        "tag_string_artist": "some_artist", "tag_string_meta": "highres", "md5": "x"}))
    art(dataset, "1F499").save(src / "webp/heart.webp", lossless=True)
    (src / "webp/heart.webp.txt").write_text("blue_heart")
    art(dataset, "2764").save(src / "bmp/heart.bmp")
    (src / "bmp/heart.txt").write_text("red heart")
    frames = [art(dataset, "1F49A"), art(dataset, "1F499")]
    frames[0].save(src / "gif/anim.gif", save_all=True, append_images=frames[1:], duration=100)
    (src / "gif/anim.gif.json").write_text(json.dumps({"tags": ["animated"]}))
    woman.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(src / "modes/palette.png")
    (src / "modes/palette.txt").write_text("palette")
    Image.fromarray(np.full((32, 32), 32768, dtype=np.uint16)).save(src / "modes/grey16.png")
    (src / "modes/grey16.txt").write_text("grey")
    woman.convert("L").save(src / "modes/grey.png")
    (src / "modes/grey.txt").write_text("grey")
    Image.new("RGB", (32, 32), (220, 20, 20)).convert("CMYK").save(src / "modes/cmyk.jpg", quality=95)
    (src / "modes/cmyk.txt").write_text("cmyk")
    woman.resize((128, 32)).save(src / "wide.png")
    (src / "wide.txt").write_text("wide")
    art(dataset, "1F499").rotate(90).save(src / "notags.png")
    art(dataset, "1F004").save(src / "badjson.png")
    (src / "badjson.png.json").write_text("{not json")
    art(dataset, "1F499").save(src / "deepjson.png")
    (src / "deepjson.png.json").write_text('{"tags": ' + "[" * 100_000 + "]" * 100_000 + "}")
    art(dataset, "E2CC").save(src / "table/listed.png")
    (src / "bad/empty.png").write_bytes(b"")
    good_jpeg = (src / "jpeg/rotated.jpg").read_bytes()
    (src / "bad/truncated.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (src / "bad/text.png").write_text("this is a note, not a picture")
    (src / "bad/bomb.png").write_bytes(huge_png_header(50_000, 50_000))
    (src / "notes.md").write_text("ignored: not an image extension")
    return src


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def imported(tmp_path_factory, collection):
    before = tree_digest(collection)
    out = tmp_path_factory.mktemp("imported")
    result = CliRunner().invoke(main, ["data", "import", str(collection), "--out", str(out), "--size", "64",
                                       "--workers", "2", "--extractor", "xdog"])
    return out, result, before


def rows_by_name(out: Path) -> dict[str, dict]:
    return {row["original"]: row for row in Manifest(out)}


def test_good_files_are_imported_with_their_tags(imported):
    out, result, _ = imported
    assert result.exit_code == 0, result.output
    rows = rows_by_name(out)
    expected = {k: v for k, v in GOOD.items() if not k.startswith("table/")} | {"table/listed.png": []}
    assert {name: rows[name]["tags"] for name in expected} == expected
    assert set(rows) == set(expected)
    for row in rows.values():
        for key in ("sketch", "color"):
            with Image.open(out / row[key]) as im:
                assert im.size == (64, 64) and im.mode == "RGB"
        assert row["split"] == split_for(row["id"])


def test_every_bad_file_gets_one_clear_line_and_the_import_goes_on(imported):
    out, result, _ = imported
    report = (out / REPORT_NAME).read_text()
    for name, problem in BAD.items():
        lines = [line for line in report.splitlines() if line.startswith(name + ":")]
        assert len(lines) == 1 and problem in lines[0] and lines[0].endswith("skipped"), (name, lines)
        assert lines[0] in result.stderr
    assert "badjson.png: " in report and "not valid JSON" in report and "imported without tags" in report
    assert "deepjson.png.json: JSON nested too deeply" in report
    assert "notags.png: no tags found" in report
    summary = f"imported {len(GOOD)}, already there 0, skipped 0, failed {len(BAD)}"
    assert summary in result.stdout


def test_source_files_are_never_modified(imported, collection):
    _, _, before = imported
    assert tree_digest(collection) == before


def test_strict_makes_failures_an_error(collection, tmp_path):
    result = CliRunner().invoke(main, ["data", "import", str(collection / "bad"), "--out", str(tmp_path), "--strict"])
    assert result.exit_code != 0 and "--strict" in result.output


@pytest.mark.parametrize("name", ["png/heart_rgba.png", "gif/anim.gif"])
def test_transparency_is_white_and_gif_gives_its_first_frame(imported, dataset, name):
    out, _, _ = imported
    color = np.asarray(Image.open(out / rows_by_name(out)[name]["color"]))
    assert (color[0, 0] == 255).all()
    green = np.asarray(art(dataset, "1F49A"))
    assert np.abs(color.astype(int) - green.astype(int)).mean() < 3  # the green heart, not the blue one


def test_exif_orientation_is_applied(imported):
    out, _, _ = imported
    row = rows_by_name(out)["jpeg/rotated.jpg"]
    assert (row["width"], row["height"]) == (40, 64)  # stored 64x40, viewed rotated


def test_wide_images_keep_their_aspect_with_white_padding(imported):
    out, _, _ = imported
    color = np.asarray(Image.open(out / rows_by_name(out)["wide.png"]["color"]))
    assert (color[:20] == 255).all() and (color[-20:] == 255).all()  # 128x32 -> 64x16, centred
    assert (color[26:38] != 255).any()


def test_image_modes_convert_correctly(collection):
    grey16 = load_rgb(collection / "modes/grey16.png")
    assert grey16.shape == (32, 32, 3) and abs(int(grey16[0, 0, 0]) - 128) <= 1
    red = load_rgb(collection / "modes/cmyk.jpg")[16, 16].astype(int)
    assert red[0] > 180 and red[1] < 70 and red[2] < 70
    palette = load_rgb(collection / "modes/palette.png")
    assert palette.dtype == np.uint8 and palette.shape == (64, 64, 3)


def test_oversized_is_refused_before_decoding(collection):
    with pytest.raises(ImageError, match="pixel limit"):
        load_rgb(collection / "bad/bomb.png")
    with pytest.raises(ImageError, match="pixel limit"):
        load_rgb(collection / "png/woman.png", max_pixels=1000)


def test_duplicates_are_kept_once_and_reruns_import_only_what_is_new(collection, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(collection / "png", src)
    shutil.copy(src / "woman.png", src / "woman_copy.png")
    out = tmp_path / "out"
    first = import_folder(src, out, size=64, workers=1, progress=False)
    assert (first.imported, first.skipped) == (2, 1)
    assert any("woman_copy.png: same bytes as woman.png" in p for p in first.problems)
    splits = {row["id"]: row["split"] for row in Manifest(out)}
    stamp = (out / next(iter(Manifest(out)))["color"]).stat().st_mtime_ns

    again = import_folder(src, out, size=64, workers=1, progress=False)
    assert (again.imported, again.already, again.skipped) == (0, 2, 1)
    assert (out / next(iter(Manifest(out)))["color"]).stat().st_mtime_ns == stamp

    shutil.copy(collection / "webp/heart.webp", src / "new.webp")
    more = import_folder(src, out, size=64, workers=1, progress=False)
    assert (more.imported, more.already) == (1, 2)
    after = {row["id"]: row["split"] for row in Manifest(out)}
    assert {k: after[k] for k in splits} == splits, "adding files never moves old ones between splits"

    (src / "new.webp").unlink()  # a source that disappears keeps its imported row
    kept = import_folder(src, out, size=64, workers=1, progress=False)
    assert kept.kept_old == 1 and len(Manifest(out)) == 3


def test_tag_table_imports_the_listed_files_with_their_tags(collection, tmp_path):
    csv_file = tmp_path / "tags.csv"
    csv_file.write_text('path,tags\ntable/listed.png,"From_Table, extra"\npng/woman.png,woman\n')
    jsonl = tmp_path / "tags.jsonl"
    jsonl.write_text(json.dumps({"path": "table/listed.png", "tags": ["from table"]}) + "\n")
    for table, expected in [(csv_file, {"table/listed.png": ["from table", "extra"], "png/woman.png": ["woman"]}),
                            (jsonl, {"table/listed.png": ["from table"]})]:
        out = tmp_path / table.suffix[1:]
        import_folder(collection, out, size=64, table=table, workers=1, progress=False)
        assert {n: r["tags"] for n, r in rows_by_name(out).items()} == expected


def test_extraction_at_train_time_gives_fresh_sketches(collection, tmp_path):
    out = tmp_path / "train_time"
    src = tmp_path / "src"
    shutil.copytree(collection / "png", src)
    import_folder(src, out, size=64, extract_at="train", extractor="mixed", workers=1, progress=False)
    assert all(row["sketch"] is None for row in Manifest(out))
    assert not (out / "sketch").exists()
    ds = PairDataset(out, split=None)
    sketches = {ds[0]["sketch"].numpy().tobytes() for _ in range(12)}
    assert len(sketches) > 1, "mixed extraction varies between loads"
    fixed = PairDataset(out, split=None, extractor="xdog")
    assert fixed[0]["sketch"].equal(fixed[0]["sketch"])
    result = CliRunner().invoke(main, ["data", "show", str(out), "-o", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output


def test_a_different_size_into_the_same_folder_is_refused(collection, tmp_path):
    import_folder(collection / "png", tmp_path, size=64, workers=1, progress=False)
    with pytest.raises(ValueError, match="--size 64"):
        import_folder(collection / "png", tmp_path, size=32, workers=1, progress=False)


def test_a_file_over_the_size_limit_is_skipped_by_name_without_being_read(tmp_path, dataset):
    from colorize.data.importer import MAX_FILE_BYTES

    src = tmp_path / "src"
    src.mkdir()
    art(dataset, "1F499").save(src / "good.png")
    (src / "good.txt").write_text("blue heart")
    with open(src / "huge.png", "wb") as f:  # sparse: no disk used, and never read
        f.truncate(MAX_FILE_BYTES + 1)
    result = CliRunner().invoke(main, ["data", "import", str(src), "--out", str(tmp_path / "out"), "--size", "64"])
    report = (tmp_path / "out" / "import-report.txt").read_text()
    assert "huge.png: file is 1,024.0 MiB, over the 1024 MiB limit for one image; skipped" in report
    assert {row["original"] for row in Manifest(tmp_path / "out")} == {"good.png"}
    assert result.exit_code == 0 and "failed 1" in result.output, result.output  # non-zero only with --strict


def test_unreadable_folders_fail_and_odd_names_keep_one_report_line(tmp_path, dataset, locked_folders):
    src = tmp_path / "src"
    (src / "locked").mkdir(parents=True)
    (tmp_path / "linked").mkdir()
    art(dataset, "1F499").save(src / "good.png")
    art(dataset, "1F49A").save(src / "locked" / "never-seen.png")
    art(dataset, "2764").save(tmp_path / "linked" / "via-link.png")
    (src / "link").symlink_to(tmp_path / "linked", target_is_directory=True)
    (src / "two\nlines.png").write_bytes(b"forged: line")
    locked_folders.add("locked")
    report = import_folder(src, tmp_path / "out", size=64, workers=1, progress=False)
    text = (tmp_path / "out" / REPORT_NAME).read_text()
    assert f"{src / 'locked'}: cannot read this folder (Permission denied)" in text
    assert "two\\nlines.png: not an image" in text
    assert len(text.splitlines()) == len(report.problems)
    assert not any(line.startswith("lines.png") for line in text.splitlines())
    assert {row["original"] for row in Manifest(tmp_path / "out")} == {"good.png", "link/via-link.png"}
    assert report.failed == 2


def test_max_pixels_above_pillows_own_limit_takes_effect(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    Image.new("L", (60, 50), 255).save(tmp_path / "a.png")  # 3,000 pixels
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses over twice this by itself
    assert load_rgb(tmp_path / "a.png", max_pixels=5000).shape == (50, 60, 3)
    with pytest.raises(ImageError, match="2,000-pixel limit") as refused:
        load_rgb(tmp_path / "a.png", max_pixels=2000)
    assert "raise --max-pixels" in refused.value.advice


def test_builders_share_one_previous_build_check(collection, tmp_path):
    from colorize.data.builder import check_previous, read_build_info, write_build_info

    write_build_info(tmp_path, "openmoji", 64, {"train": 3, "val": 1}, license="CC BY-SA 4.0")
    info = read_build_info(tmp_path)
    assert info["rows"] == 4 and info["source"] == "openmoji" and info["license"] == "CC BY-SA 4.0"
    with pytest.raises(ValueError, match="holds a 'openmoji' dataset, and this is a 'import' build"):
        import_folder(collection / "png", tmp_path, size=64, workers=1, progress=False)
    with pytest.raises(ValueError, match="holds 64-px images and this build is 32 px. Use --force to rebuild it at 32"):
        check_previous(tmp_path, "openmoji", 32, fix="Use --force to rebuild it at {size} px.")
    assert check_previous(tmp_path, "openmoji", 32, fix="", force=True)["size"] == 64


@pytest.mark.timeout(120, method="thread")  # a worker blocked on the FIFO would hold the pool past the signal
def test_manifest_rows_outside_src_are_refused_by_line_and_the_rest_imported(dataset, tmp_path):
    src, outside = tmp_path / "src", tmp_path / "outside"
    src.mkdir()
    outside.mkdir()
    art(dataset, "1F469-200D-1F9B0").save(src / "inside.png")
    art(dataset, "1F469-200D-1F9B0").save(outside / "secret.png")  # must never be read
    os.mkfifo(src / "pipe.png")  # named by a row: no walk to skip it, so the reader must not block on it
    table = tmp_path / "tags.csv"
    table.write_text(f"path,tags\ninside.png,woman\n../outside/secret.png,x\n{outside / 'secret.png'},x\n"
                     f"~/secret.png,x\nsub/../../outside/secret.png,x\npipe.png,x\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["data", "import", str(src), "--out", str(tmp_path / "out"), "--size", "64",
                                       "--manifest", str(table), "--workers", "1"])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "out" / REPORT_NAME).read_text().splitlines()
    refused = {3: "the path goes up through '..'", 4: "the path is absolute", 5: "the path starts from a home folder",
               6: "the path goes up through '..'"}
    for number, why in refused.items():
        lines = [line for line in report if line.startswith(f"{table}, line {number}: ")]
        assert len(lines) == 1 and why in lines[0] and "outside SRC" in lines[0], report
    assert report[-1] == "pipe.png: it is a FIFO (named pipe), not an image file; skipped", report
    assert "failed 5" in result.output and [row["original"] for row in Manifest(tmp_path / "out")] == ["inside.png"]
