"""`colorize run --palette` and `--consistent`, through the CLI, on real sketches from the test dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize.cli import main
from colorize.colour import delta_e
from colorize.finish.regions import find_regions
from colorize.palette import read_palette
from tests.conftest import PAINTS, SAMPLE_IDS

RED = PAINTS["red heart"]  # what painter_model paints for "red heart", everywhere


def run(*args) -> object:
    return CliRunner().invoke(main, ["run", *map(str, args), "--no-progress"])


def pages(dataset: Path, folder: Path, ids=SAMPLE_IDS[:4]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for emoji_id in ids:
        shutil.copy(dataset / "sketch" / f"{emoji_id}.png", folder / f"{emoji_id}.png")
    return folder


def region_colours(path: Path, sketch: Path) -> set[tuple[int, int, int]]:
    """The colours of a flat result's regions, read where the sketch has paper (off the lines)."""
    result = np.asarray(Image.open(path).convert("RGB"))
    lines = np.asarray(Image.open(sketch).convert("RGB"))
    paper = lines.min(axis=-1) == 255
    return {tuple(int(v) for v in c) for c in result[paper]}


def test_regions_take_a_near_palette_colour_exactly_and_v_says_which(tmp_path, dataset, painter_model):
    near = tuple(int(v) + d for v, d in zip(RED, (3, -2, 2)))  # about 1.5 CIEDE2000 from what the model paints
    palette = tmp_path / "character.gpl"
    palette.write_text(f"GIMP Palette\n{near[0]} {near[1]} {near[2]}\tcoat red\n0 0 255\tblue\n")
    src = pages(dataset, tmp_path / "in")
    result = run(src, "-o", tmp_path / "out", "--model", painter_model, "--tags", "red heart",
                 "--palette", palette, "-v")
    assert result.exit_code == 0, result.output
    assert "regions took palette colours: coat red" in result.output
    for page in src.iterdir():
        assert region_colours(tmp_path / "out" / page.name, page) == {near}, page.name
    far = run(src, "-o", tmp_path / "far", "--model", painter_model, "--tags", "red heart",
              "--palette", palette, "--palette-max-de", "0.5")
    assert far.exit_code == 0, far.output
    for page in src.iterdir():
        assert region_colours(tmp_path / "far" / page.name, page) != {near}


@pytest.mark.parametrize("text, words", [
    ("GIMP Palette\n216 58 58 hair\n216 58\n", "character.gpl, line 3: '216 58' is not a colour"),
    ("GIMP Palette\n#\n", "character.gpl: the palette has no colours"),
])
def test_a_bad_palette_stops_the_run_before_anything_is_written(tmp_path, dataset, painter_model, text, words):
    (tmp_path / "character.gpl").write_text(text)
    result = run(pages(dataset, tmp_path / "in"), "-o", tmp_path / "out", "--model", painter_model,
                 "--palette", tmp_path / "character.gpl")
    assert result.exit_code != 0 and words in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_a_palette_needs_flat_regions(tmp_path, dataset, painter_model):
    (tmp_path / "p.hex").write_text("#ff0000\n")
    result = run(pages(dataset, tmp_path / "in"), "-o", tmp_path / "out", "--model", painter_model,
                 "--palette", tmp_path / "p.hex", "--finish", "soft")
    assert result.exit_code != 0 and "--finish soft has none" in result.output


def test_consistent_writes_the_palette_and_a_later_run_keeps_to_it(tmp_path, dataset, painter_model):
    src = pages(dataset, tmp_path / "in", SAMPLE_IDS[:2])
    out = tmp_path / "out"
    first = run(src, "-o", out, "--model", painter_model, "--tags", "red heart", "--consistent")
    assert first.exit_code == 0, first.output
    palette = read_palette(out / "palette.gpl")
    assert delta_e(palette.rgb()[0], np.array(RED, np.uint8)) < 1.0
    # a later run into the same folder reads the palette back (here edited by hand) and never rewrites it
    (out / "palette.gpl").write_text("GIMP Palette\n200 50 50\tcoat\n")
    shutil.copy(dataset / "sketch" / f"{SAMPLE_IDS[2]}.png", src / "new.png")
    later = run(src, "-o", out, "--model", painter_model, "--tags", "red heart", "--consistent")
    assert later.exit_code == 0, later.output
    assert "the palette of an earlier run" in later.output
    assert region_colours(out / "new.png", src / "new.png") == {(200, 50, 50)}
    assert (out / "palette.gpl").read_text() == "GIMP Palette\n200 50 50\tcoat\n"
    # --overwrite builds it again from this run's colourings
    again = run(src, "-o", out, "--model", painter_model, "--tags", "red heart", "--consistent", "--overwrite")
    assert again.exit_code == 0, again.output
    assert delta_e(read_palette(out / "palette.gpl").rgb()[0], np.array(RED, np.uint8)) < 1.0


def test_consistent_gives_each_tag_set_its_palette(tmp_path, dataset, painter_model):
    src = pages(dataset, tmp_path / "in", SAMPLE_IDS[:2])
    tags = tmp_path / "tags.csv"
    tags.write_text(f"path,tags\n{SAMPLE_IDS[0]}.png,red heart\n{SAMPLE_IDS[1]}.png,blue heart\n")
    result = run(src, "-o", tmp_path / "out", "--model", painter_model, "--tags-file", tags, "--consistent")
    assert result.exit_code == 0, result.output
    for tag in ("red heart", "blue heart"):
        palette = read_palette(tmp_path / "out" / f"palette-{tag.replace(' ', '-')}.gpl")
        assert delta_e(palette.rgb()[0], np.array(PAINTS[tag], np.uint8)) < 1.0


def test_consistent_pages_share_colours_whatever_the_order_of_the_inputs(tmp_path, dataset, tiny_model):
    """A (tiny) model paints each page a little differently; with --consistent every painted
    region takes a colour of the palette the run built, however far its own colour was, and the
    same pages given in another order come out byte for byte the same, palette included."""
    src = pages(dataset, tmp_path / "in", SAMPLE_IDS[:6])
    files = sorted(src.iterdir())
    tags = ["--tags", "woman, red hair"]
    # --palette-max-de is for given palettes: one the run built is taken by every region
    tags += ["--palette-max-de", "0.1"]
    a = run(*files, "-o", tmp_path / "a", "--model", tiny_model, *tags, "--consistent", "--batch-size", "4")
    b = run(*files[::-1], "-o", tmp_path / "b", "--model", tiny_model, *tags, "--consistent", "--batch-size", "4")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert (tmp_path / "a" / "palette.gpl").read_bytes() == (tmp_path / "b" / "palette.gpl").read_bytes()
    palette = read_palette(tmp_path / "a" / "palette.gpl")
    colours = set()
    for page in files:
        assert (tmp_path / "a" / page.name).read_bytes() == (tmp_path / "b" / page.name).read_bytes(), page.name
        colours |= region_colours(tmp_path / "a" / page.name, page)
    assert colours - {(255, 255, 255)} <= {s.rgb for s in palette.swatches}
    plain = run(*files, "-o", tmp_path / "plain", "--model", tiny_model, *tags[:2])
    assert plain.exit_code == 0, plain.output
    plain_colours = set().union(*(region_colours(tmp_path / "plain" / p.name, p) for p in files))
    assert len(colours) < len(plain_colours)


def test_consistent_finds_each_page_s_regions_once_and_gives_the_same_files_past_what_it_holds(
        tmp_path, dataset, tiny_model, monkeypatch):
    """The first pass finds each page's regions while the model runs (their colours make the
    palette) and keeps them, and the decoded page, for the second, so no page's regions are
    found twice. Past the memory it may hold, only the regions are kept, compressed; past
    that too, the second pass finds them again. The same files every way."""
    import colorize.finish
    import colorize.infer.folder as folder

    calls = {"first pass": 0, "second pass": 0}
    real = colorize.finish.flat_regions

    def counted(when):
        def flat_regions(*args, **kwargs):
            calls[when] += 1
            return real(*args, **kwargs)
        return flat_regions

    monkeypatch.setattr(folder, "flat_regions", counted("first pass"))  # _find's
    monkeypatch.setattr(colorize.finish, "flat_regions", counted("second pass"))  # finish_layers'
    snaps = []
    real_snap = colorize.finish.snap_regions
    monkeypatch.setattr(colorize.finish, "snap_regions", lambda *a, **k: snaps.append(len(a[0])) or real_snap(*a, **k))
    src = pages(dataset, tmp_path / "in", SAMPLE_IDS[:6])
    wide = src / f"{SAMPLE_IDS[0]}.png"  # a page wider than high: packed ids must come back in its shape
    Image.open(wide).convert("RGB").resize((96, 64)).save(wide)
    args = ["--model", tiny_model, "--tags", "woman, red hair", "--consistent", "--batch-size", "2", "--layers"]
    expected = {  # out folder: (HELD_BYTES, PACKED_BYTES), regions found in the second pass, snap_regions calls
        "held": ((256 << 20, 256 << 20), 0, 1),  # every held page snapped in one go (snap_many)
        "packed": ((0, 256 << 20), 0, 1),
        "again": ((0, 0), 6, 6),
    }
    for out, ((held_bytes, packed_bytes), second, snapped) in expected.items():
        monkeypatch.setattr(folder, "HELD_BYTES", held_bytes)
        monkeypatch.setattr(folder, "PACKED_BYTES", packed_bytes)
        calls.update({"first pass": 0, "second pass": 0})
        snaps.clear()
        result = run(src, "-o", tmp_path / out, *args)
        assert result.exit_code == 0 and "6 coloured" in result.output, result.output
        assert calls == {"first pass": 6, "second pass": second} and len(snaps) == snapped, out
    written = sorted(p.relative_to(tmp_path / "held") for p in (tmp_path / "held").rglob("*.png"))
    assert len(written) == 12 and (tmp_path / "held" / "palette.gpl").exists()  # results and region maps
    for out in ("packed", "again"):
        for name in [*written, "palette.gpl"]:
            assert (tmp_path / "held" / name).read_bytes() == (tmp_path / out / name).read_bytes(), (out, name)


def test_a_page_whose_regions_fail_in_the_first_pass_stops_nothing(tmp_path, dataset, tiny_model, monkeypatch):
    """The first pass finds regions in the worker threads; one page failing there (here, by a
    planted error) adds nothing to the palette, and the second pass finishes it as usual."""
    import colorize.infer.folder as folder

    real = folder.flat_regions
    ids = ["1F1E8-1F1ED", "1F1EF-1F1F5", "1F004", "002D"]  # four different drawings
    bad = ids[2]

    planted = []

    def flat_regions(soft, sketch, *args, **kwargs):
        if np.array_equal(sketch, np.asarray(Image.open(dataset / "sketch" / f"{bad}.png").convert("RGB"))):
            planted.append(bad)
            raise RuntimeError("planted")
        return real(soft, sketch, *args, **kwargs)

    monkeypatch.setattr(folder, "flat_regions", flat_regions)
    src = pages(dataset, tmp_path / "in", ids)
    result = run(src, "-o", tmp_path / "out", "--model", tiny_model, "--tags", "woman, red hair", "--consistent")
    assert result.exit_code == 0 and "4 coloured, 0 failed" in result.output, result.output
    assert planted == [bad]
    assert (tmp_path / "out" / f"{bad}.png").exists() and (tmp_path / "out" / "palette.gpl").exists()
    # the tag set is left one page with colours, which keeps its own: both pages as a plain run gives them
    planted.clear()
    pair = pages(dataset, tmp_path / "pair", [ids[0], bad])
    for out, extra in (("kept", ["--consistent"]), ("plain", [])):
        result = run(pair, "-o", tmp_path / out, "--model", tiny_model, "--tags", "woman, red hair", *extra)
        assert result.exit_code == 0, result.output
    for name in (f"{ids[0]}.png", f"{bad}.png"):
        assert (tmp_path / "kept" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name


def test_a_picture_too_big_for_memory_fails_alone(tmp_path, dataset, tiny_model, monkeypatch):
    import colorize.finish

    real = colorize.finish.flat_regions
    ids = ["1F1E8-1F1ED", "1F1EF-1F1F5", "1F004", "002D"]  # four different drawings
    bad = ids[2]

    def flat_regions(soft, sketch, *args, **kwargs):
        if np.array_equal(sketch, np.asarray(Image.open(dataset / "sketch" / f"{bad}.png").convert("RGB"))):
            raise MemoryError
        return real(soft, sketch, *args, **kwargs)

    monkeypatch.setattr(colorize.finish, "flat_regions", flat_regions)
    src = pages(dataset, tmp_path / "in", ids)
    result = run(src, "-o", tmp_path / "out", "--model", tiny_model, "--tags", "woman, red hair")
    assert result.exit_code == 1 and "3 coloured, 1 failed" in result.output, result.output
    assert f"{bad}.png: not enough memory to finish it" in result.output
    assert not (tmp_path / "out" / f"{bad}.png").exists()


def test_the_library_refuses_consistent_colours_with_nothing_to_take_them(tmp_path, dataset, tiny_model):
    from colorize.infer.colorizer import Colorizer
    from colorize.infer.folder import colour_files

    src = pages(dataset, tmp_path / "in", SAMPLE_IDS[:2])
    with pytest.raises(ValueError, match="soft finish has none"):
        colour_files(Colorizer.from_pretrained(tiny_model, device="cpu"), [src], tmp_path / "out", tags="a",
                     finish="soft", consistent=True, progress=False)
    assert not (tmp_path / "out").exists()


def test_a_palette_the_run_built_is_taken_by_every_region_however_far(tmp_path, dataset, painter_model,
                                                                        monkeypatch):
    """A palette built from the run's own pages holds every colour they were painted in, so
    each region takes its nearest entry at any distance (here a palette of one green, far
    from the model's red: every painted region turns green)."""
    import colorize.infer.folder as folder
    from colorize.palette import Palette, Swatch

    monkeypatch.setattr(folder, "run_palette", lambda *a, **k: Palette((Swatch((0, 255, 0), "green"),)))
    src = pages(dataset, tmp_path / "in", SAMPLE_IDS[:2])
    result = run(src, "-o", tmp_path / "out", "--model", painter_model, "--tags", "red heart", "--consistent")
    assert result.exit_code == 0, result.output
    for page in src.iterdir():
        assert region_colours(tmp_path / "out" / page.name, page) == {(0, 255, 0)}, page.name


def test_a_palette_read_back_from_an_earlier_run_is_kept_to_within_palette_max_de(tmp_path, dataset, painter_model):
    """A palette found in the output folder may have been edited by hand: like a --palette,
    it is snapped to only within --palette-max-de, so a far colour does not take the regions."""
    src = pages(dataset, tmp_path / "in", SAMPLE_IDS[:2])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "palette.gpl").write_text("GIMP Palette\n0 0 255\tblue\n")
    result = run(src, "-o", tmp_path / "out", "--model", painter_model, "--tags", "red heart", "--consistent")
    assert result.exit_code == 0 and "the palette of an earlier run" in result.output, result.output
    for page in src.iterdir():
        colours = region_colours(tmp_path / "out" / page.name, page)
        assert colours and all(delta_e(np.array(c, np.uint8), np.array(RED, np.uint8)) < 1.5 for c in colours), \
            (page.name, colours)  # the model's red, not the palette's blue

def test_consistent_leaves_a_tag_set_with_one_page_its_own_colours(tmp_path, dataset, tiny_model):
    """One page is consistent with itself: snapping it to a palette of its own colours would
    only merge near colours (variant accuracy fell 0.986 -> 0.972 on OpenMoji val). Its
    palette is still written, for the next run."""
    src = pages(dataset, tmp_path / "in", SAMPLE_IDS[:1])
    page = next(src.iterdir())
    kept = run(src, "-o", tmp_path / "kept", "--model", tiny_model, "--tags", "woman, red hair", "--consistent")
    plain = run(src, "-o", tmp_path / "plain", "--model", tiny_model, "--tags", "woman, red hair")
    assert kept.exit_code == 0 and plain.exit_code == 0, kept.output + plain.output
    assert (tmp_path / "kept" / "palette.gpl").exists()
    assert (tmp_path / "kept" / page.name).read_bytes() == (tmp_path / "plain" / page.name).read_bytes()


# -- colorize palette -----------------------------------------------------------------------------------


def coloured_page(path: Path) -> Path:
    """A coloured page: on white paper, a red box (60% of the fill) and a blue one (40%), black outlines."""
    import cv2

    page = np.full((256, 256, 3), 255, np.uint8)
    page[40:200, 30:126] = (216, 58, 58)
    page[40:200, 140:204] = (30, 80, 160)
    cv2.rectangle(page, (30, 40), (126, 200), (0, 0, 0), 3)
    cv2.rectangle(page, (140, 40), (204, 200), (0, 0, 0), 3)
    Image.fromarray(page).save(path)
    return path


def palette_cmd(*args) -> object:
    return CliRunner().invoke(main, ["palette", *map(str, args)])


def test_the_palette_of_a_coloured_page_is_its_fills_without_paper_and_lines(tmp_path):
    page = coloured_page(tmp_path / "page.png")
    result = palette_cmd(page, "-o", tmp_path / "character.gpl")
    assert result.exit_code == 0, result.output
    palette = read_palette(tmp_path / "character.gpl")
    assert [s.rgb for s in palette.swatches] == [(216, 58, 58), (30, 80, 160)]
    text = (tmp_path / "character.gpl").read_text()
    shares = [float(line.split("%")[0][2:]) for line in text.splitlines() if line.endswith("of the pixels")]
    assert shares[0] == pytest.approx(100 * 94 * 158 / (94 * 158 + 62 * 158), abs=2.5)
    kept = palette_cmd(page, "-o", tmp_path / "all.hex", "--keep-paper", "--keep-lines")
    assert kept.exit_code == 0, kept.output
    assert {(255, 255, 255), (0, 0, 0)} <= {s.rgb for s in read_palette(tmp_path / "all.hex").swatches}
    one = palette_cmd(page, "-o", tmp_path / "one.gpl", "--count", "1")
    assert one.exit_code == 0 and len(read_palette(tmp_path / "one.gpl")) == 1


def test_the_palette_for_tags_is_the_one_the_model_paints(tmp_path, dataset, painter_model):
    sketch = dataset / "sketch" / f"{SAMPLE_IDS[0]}.png"
    result = palette_cmd(sketch, "--tags", "blue heart", "--model", painter_model, "-o", tmp_path / "blue.gpl")
    assert result.exit_code == 0, result.output
    palette = read_palette(tmp_path / "blue.gpl")
    assert len(palette) == 1 and delta_e(palette.rgb()[0], np.array(PAINTS["blue heart"], np.uint8)) < 1.0


def test_palette_never_replaces_a_file_without_overwrite_and_names_the_formats(tmp_path):
    page = coloured_page(tmp_path / "page.png")
    (tmp_path / "character.gpl").write_text("GIMP Palette\n1 2 3\n")
    result = palette_cmd(page, "-o", tmp_path / "character.gpl")
    assert result.exit_code != 0 and "exists; pass --overwrite" in result.output
    assert (tmp_path / "character.gpl").read_text() == "GIMP Palette\n1 2 3\n"
    odd = palette_cmd(page, "-o", tmp_path / "character.ase")
    assert odd.exit_code != 0 and ".gpl, .hex, .txt" in odd.output


# -- one layer per colour -------------------------------------------------------------------------------


def _composite(size: tuple[int, int], parts: list[tuple[np.ndarray, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """RGBA layers (pixels, left, top) laid over an empty canvas: the picture, and how many
    layers cover each pixel."""
    w, h = size
    canvas, cover = np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.int32)
    for rgba, left, top in parts:
        ph, pw = rgba.shape[:2]
        opaque = rgba[..., 3] == 255
        assert ((rgba[..., 3] == 0) | opaque).all(), "a colour layer is opaque or empty, never half"
        canvas[top:top + ph, left:left + pw][opaque] = rgba[..., :3][opaque]
        cover[top:top + ph, left:left + pw] += opaque
    return canvas, cover


def _flats_of_plain_ora(path: Path) -> np.ndarray:
    import io
    import xml.etree.ElementTree as ET
    import zipfile

    with zipfile.ZipFile(path) as ora:
        stack = ET.fromstring(ora.read("stack.xml"))
        flats = next(layer for layer in stack.iter("layer") if layer.get("name") == "flats")
        return np.asarray(Image.open(io.BytesIO(ora.read(flats.get("src")))).convert("RGB"))


def test_one_layer_per_colour_gives_the_flats_exactly_in_ora_and_in_imagemagick_read_psd(tmp_path, dataset,
                                                                                         tiny_model):
    """--layer-per-colour: a 'flats' group of one layer per distinct flat colour, named by the
    palette entry or the hex value; read with zipfile + XML (ORA) and with ImageMagick (PSD),
    the layers laid together are the flats of the same run without it, pixel for pixel."""
    import io
    import subprocess
    import xml.etree.ElementTree as ET
    import zipfile

    import cv2

    src = tmp_path / "in"
    src.mkdir()
    big = cv2.resize(cv2.imread(str(dataset / "sketch" / f"{SAMPLE_IDS[0]}.png")), (200, 150),
                     interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(src / "a.png"), big)
    plain = run(src, "-o", tmp_path / "plain", "--model", tiny_model, "--tags", "red hair", "--layers")
    assert plain.exit_code == 0, plain.output
    flats = _flats_of_plain_ora(tmp_path / "plain" / "a.ora")
    colours = {tuple(int(v) for v in c) for c in np.unique(flats.reshape(-1, 3), axis=0)}
    named = sorted(colours)[len(colours) // 2]
    (tmp_path / "p.gpl").write_text(f"GIMP Palette\n{named[0]} {named[1]} {named[2]}\tcoat\n")
    result = run(src, "-o", tmp_path / "out", "--model", tiny_model, "--tags", "red hair", "--layers",
                 "--layers-format", "both", "--layer-per-colour", "--palette", tmp_path / "p.gpl",
                 "--palette-max-de", "0")
    assert result.exit_code == 0, result.output

    with zipfile.ZipFile(tmp_path / "out" / "a.ora") as ora:
        stack = ET.fromstring(ora.read("stack.xml")).find("stack")
        top = [(child.tag, child.get("name")) for child in stack]
        assert top == [("layer", "lines"), ("stack", "flats"), ("layer", "soft colour")]
        assert stack[0].get("composite-op") == "svg:multiply" and stack[2].get("visibility") == "hidden"
        group = stack[1]
        parts = [(np.asarray(Image.open(io.BytesIO(ora.read(layer.get("src")))).convert("RGBA")),
                  int(layer.get("x")), int(layer.get("y"))) for layer in reversed(group.findall("layer"))]
        names = [layer.get("name") for layer in group.findall("layer")]
    canvas, cover = _composite((200, 150), parts)
    assert (cover == 1).all(), "every pixel in exactly one colour layer"
    np.testing.assert_array_equal(canvas, flats)
    assert len(parts) == len(colours) and "coat" in names
    assert {n for n in names if n != "coat"} <= {"paper"} | {"#%02x%02x%02x" % c for c in colours}

    info = subprocess.run(["identify", "-format", "%[label]|%w|%h|%X|%Y|%[compose]\n", str(tmp_path / "out" / "a.psd")],
                          capture_output=True, text=True, check=True).stdout.splitlines()[1:]
    layers = [line.split("|") for line in info]
    assert layers[0][0] == "soft colour" and layers[0][5] == "None"
    assert layers[-1][0] == "lines" and layers[-1][5] == "Multiply"
    assert sorted(name for name, *_ in layers[1:-1]) == sorted(names)

    def psd_layer(i: int) -> np.ndarray:
        png = subprocess.run(["convert", f"{tmp_path / 'out' / 'a.psd'}[{i + 1}]", "png32:-"], capture_output=True,
                             check=True).stdout
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)

    parts = [(psd_layer(i), int(x), int(y)) for i, (_, _, _, x, y, _) in enumerate(layers) if 0 < i < len(layers) - 1]
    canvas, cover = _composite((200, 150), parts)
    assert (cover == 1).all()
    np.testing.assert_array_equal(canvas, flats)


def test_layer_per_colour_needs_layers(tmp_path, dataset, painter_model):
    result = run(pages(dataset, tmp_path / "in", SAMPLE_IDS[:1]), "-o", tmp_path / "out", "--model", painter_model,
                 "--layer-per-colour")
    assert result.exit_code != 0 and "add --layers" in result.output
