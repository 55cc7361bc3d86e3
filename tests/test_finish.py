"""Finishing: regions from the line art (leak-proof), flat colours, and the hard inputs."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from colorize.data.images import fit_square
from colorize.finish import finish_layers, lay_lines
from colorize.finish.flats import flat_colours, region_medians
from colorize.finish.regions import find_regions, line_mask


SKETCH = "1F469-200D-1F9B0"  # woman: red hair, from the test dataset


def _sketch_file(dataset: Path) -> Path:
    """One named sketch of the test dataset: the same file on every machine, whatever the directory order."""
    return dataset / "sketch" / f"{SKETCH}.png"


def _paper(size: int = 256, grey: int = 255) -> np.ndarray:
    return np.full((size, size, 3), grey, np.uint8)


def _square_with_gap(size: int = 256, gap: int = 3, thickness: int = 2) -> np.ndarray:
    """A closed square outline, except for a gap of ``gap`` pixels in its right side."""
    img = _paper(size)
    cv2.rectangle(img, (60, 60), (190, 190), (0, 0, 0), thickness)
    img[120:120 + gap, 185:196] = 255
    return img


def _label_at(labels, y, x):
    return int(labels[y, x])


def test_every_pixel_gets_a_region_and_lines_join_a_neighbour():
    img = _square_with_gap(gap=0)
    labels = find_regions(img)
    assert labels.min() >= 1
    inside, outside = _label_at(labels, 125, 125), _label_at(labels, 10, 10)
    assert inside != outside
    ink = line_mask(img)
    assert set(np.unique(labels[ink])) <= {inside, outside}, "line pixels take a region they border"


@pytest.mark.parametrize("gap", [2, 3, 4])
def test_small_gaps_do_not_leak(gap):
    img = _square_with_gap(gap=gap)
    labels = find_regions(img, gap=3)
    assert _label_at(labels, 125, 125) != _label_at(labels, 10, 10)


def test_the_gap_size_is_a_parameter():
    img = _square_with_gap(gap=6)
    assert _label_at(find_regions(img, gap=1), 125, 125) == _label_at(find_regions(img, gap=1), 10, 10)
    labels = find_regions(img, gap=4)
    assert _label_at(labels, 125, 125) != _label_at(labels, 10, 10)


def test_open_strokes_close_no_region():
    img = _paper()
    cv2.line(img, (30, 40), (200, 60), (0, 0, 0), 2)
    cv2.line(img, (50, 200), (120, 100), (0, 0, 0), 2)
    labels = find_regions(img)
    paper = ~line_mask(img)
    assert len(np.unique(labels[paper])) == 1


def test_a_grey_jpeg_scan_gives_the_regions_of_the_clean_drawing():
    clean = _square_with_gap(gap=0, thickness=3)
    cv2.circle(clean, (125, 125), 30, (0, 0, 0), 3)
    scan = (clean.astype(np.float32) * 0.72 + 40).astype(np.uint8)  # grey paper, grey ink
    scan = cv2.add(scan, np.random.default_rng(0).integers(0, 12, scan.shape, dtype=np.uint8))
    ok, data = cv2.imencode(".jpg", scan, [cv2.IMWRITE_JPEG_QUALITY, 40])
    scan = cv2.imdecode(data, cv2.IMREAD_COLOR)
    a, b = find_regions(clean), find_regions(scan)
    for y, x in [(10, 10), (80, 80), (125, 125)]:  # outside, ring, disc
        assert (b == b[y, x]).sum() == pytest.approx((a == a[y, x]).sum(), rel=0.05)
    assert len({b[10, 10], b[80, 80], b[125, 125]}) == 3


def test_hair_thin_lines_still_separate_regions():
    img = _paper()
    cv2.rectangle(img, (60, 60), (190, 190), (90, 90, 90), 1)  # 1 px, mid grey
    labels = find_regions(img)
    assert _label_at(labels, 125, 125) != _label_at(labels, 10, 10)


def test_a_sketch_that_is_all_hatching_falls_back_to_soft_and_says_so():
    img = _paper()
    for x in range(-80, 256, 2):
        cv2.line(img, (x, 0), (x + 80, 255), (0, 0, 0), 1)
    labels = find_regions(img)
    assert labels.shape == (256, 256) and labels.min() >= 1
    soft = np.full((64, 64, 3), (200, 40, 40), np.uint8)
    done = finish_layers(soft, img, (0, 0, 64, 64), how="flat")
    assert done.finish == "soft" and "ink" in done.note
    assert np.array_equal(done.result, lay_lines(done.soft, img))


def test_a_sketch_with_no_lines_falls_back_to_soft_and_says_so():
    img = _paper()
    labels = find_regions(img)
    assert (labels == 1).all()
    soft = np.full((64, 64, 3), (120, 200, 90), np.uint8)
    done = finish_layers(soft, img, (0, 0, 64, 64), how="flat")
    assert done.finish == "soft" and "no lines" in done.note
    assert np.abs(done.result.astype(int) - (120, 200, 90)).max() <= 1  # the model's colour, not white


def test_open_strokes_fall_back_to_soft_when_the_model_paints_one_colour():
    img = _paper()
    cv2.line(img, (30, 40), (200, 60), (0, 0, 0), 2)
    cv2.line(img, (50, 200), (120, 100), (0, 0, 0), 2)
    soft = np.full((64, 64, 3), (230, 220, 90), np.uint8)
    done = finish_layers(soft, img, (0, 0, 64, 64), how="flat")
    assert done.finish == "soft" and "enclose no region" in done.note


def test_clean_lines_finish_flat_without_a_note():
    img = _square_with_gap(gap=0, thickness=3)
    soft = np.full((64, 64, 3), 250, np.uint8)
    soft[20:44, 20:44] = (40, 90, 200)
    done = finish_layers(soft, img, (0, 0, 64, 64), how="flat")
    assert done.finish == "flat" and done.note is None


def test_a_figure_open_at_the_edge_keeps_the_colour_the_model_gave_it():
    """A shirt whose outline runs off the bottom of the picture is one region with the
    paper around it; the model painted it blue, so its flat is blue and the paper white."""
    img = _paper()
    cv2.ellipse(img, (128, 256), (70, 90), 0, 180, 360, (0, 0, 0), 3)  # a shoulder line, open below
    soft = np.full((64, 64, 3), 250, np.uint8)
    cv2.ellipse(soft, (32, 64), (16, 21), 0, 180, 360, (60, 110, 220), -1)
    done = finish_layers(soft, img, (0, 0, 64, 64), how="flat")
    assert done.finish == "flat"
    assert np.abs(done.flats[230, 128].astype(int) - (60, 110, 220)).max() < 12, done.flats[230, 128]
    assert (done.flats[20, 20] == 255).all() and (done.flats[250, 10] == 255).all()
    shirt = done.labels == done.labels[230, 128]
    assert len(np.unique(done.flats[shirt].reshape(-1, 3), axis=0)) == 1


def test_a_smeared_region_stays_one_flat():
    """Colour that drifts within one region (the model's smear) is not cut into pieces."""
    img = _square_with_gap(gap=0, thickness=3)
    soft = np.full((64, 64, 3), 250, np.uint8)
    ramp = np.linspace(0, 1, 33)[None, :, None]
    soft[15:48, 15:48] = ((1 - ramp) * (200, 60, 60) + ramp * (215, 85, 70)).astype(np.uint8)  # a 10-unit drift
    done = finish_layers(soft, img, (0, 0, 64, 64), how="flat")
    inside = done.labels == done.labels[125, 125]
    assert inside[70:180, 70:180].all()


def test_big_balls_close_wide_gaps_and_small_ones_still_seed_narrow_regions():
    img = _square_with_gap(gap=12, thickness=2)
    cv2.rectangle(img, (100, 100), (104, 170), (0, 0, 0), 1)  # a 3-px-wide channel inside
    labels = find_regions(img, gap=8)
    assert labels[125, 125] != labels[10, 10]
    assert labels[130, 102] not in (labels[125, 125], labels[10, 10])


def test_region_medians_are_exact():
    labels = np.array([[1, 1, 1, 2], [1, 2, 2, 2]], np.int32)
    values = np.array([[[0], [10], [200]], [[50], [60], [70]]], np.uint8).reshape(2, 3, 1)
    values = np.concatenate([values, np.array([[[90]], [[80]]], np.uint8)], axis=1)
    medians = region_medians(labels, values)
    assert medians[1, 0] == 10 and medians[2, 0] == 70  # {0, 10, 200, 50}: lower median 10; {90, 60, 70, 80}: 70


def test_flats_are_one_colour_per_region_and_the_background_stays_white():
    img = _square_with_gap(gap=0, thickness=3)
    ink = line_mask(img)
    labels = find_regions(img, ink=ink)
    rng = np.random.default_rng(0)
    soft = np.full(img.shape, 250, np.uint8)
    soft[70:180, 70:180] = (40, 90, 200)
    soft = cv2.add(soft, rng.integers(0, 20, soft.shape, dtype=np.uint8))  # mottled
    flats = flat_colours(labels, soft, ink)
    inside = labels == labels[125, 125]
    assert len(np.unique(flats[inside].reshape(-1, 3), axis=0)) == 1
    assert np.abs(flats[125, 125].astype(int) - (50, 100, 210)).max() < 15
    assert (flats[labels == labels[5, 5]] == 255).all()


def _run_flat_with_layers(tmp_path, dataset, tiny_model, size: tuple[int, int], *options: str) -> np.ndarray:
    """`colorize run --finish flat --layers [options]` on one dataset sketch resized to
    ``size`` (as IN/a.png, into tmp_path/out); returns the sketch (BGR) as written."""
    from click.testing import CliRunner

    from colorize.cli import main

    src = tmp_path / "in"
    src.mkdir()
    big = cv2.resize(cv2.imread(str(_sketch_file(dataset))), size, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(src / "a.png"), big)
    result = CliRunner().invoke(main, ["run", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model),
                                       "--finish", "flat", "--layers", *options, "--tags", "red heart",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    return big


def test_run_writes_flats_and_layered_files_that_an_independent_reader_opens(tmp_path, dataset, tiny_model):
    """--finish flat --layers: the PNG, an OpenRaster file read back with zipfile + XML (not
    with the library that wrote it), and a 16-bit region map; compositing the layers gives
    the flat result."""
    import io
    import xml.etree.ElementTree as ET
    import zipfile

    from PIL import Image

    _run_flat_with_layers(tmp_path, dataset, tiny_model, (300, 300))
    flat = np.asarray(Image.open(tmp_path / "out" / "a.png").convert("RGB"))
    assert flat.shape == (300, 300, 3)
    with zipfile.ZipFile(tmp_path / "out" / "a.ora") as ora:
        assert ora.namelist()[0] == "mimetype" and ora.read("mimetype") == b"image/openraster"
        assert ora.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        stack = ET.fromstring(ora.read("stack.xml"))
        assert (stack.get("w"), stack.get("h")) == ("300", "300")
        layers = stack.findall(".//layer")  # top first, as OpenRaster lists them
        assert [layer.get("name") for layer in layers] == ["lines", "flats", "soft colour"]
        images = {layer.get("name"): np.asarray(Image.open(io.BytesIO(ora.read(layer.get("src").lstrip("/"))))
                                                .convert("RGB")).astype(np.int32) for layer in layers}
        assert layers[0].get("composite-op") == "svg:multiply" and layers[2].get("visibility") == "hidden"
        assert all(image.shape == (300, 300, 3) for image in images.values())
        composite = images["flats"] * images["lines"] / 255.0
        assert np.abs(composite - flat).max() <= 1.0
    labels = cv2.imread(str(tmp_path / "out" / "a.regions.png"), cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint16 and labels.shape == (300, 300) and labels.min() >= 1
    for region in np.unique(labels):  # one colour per region in the flats layer
        assert len(np.unique(images["flats"][labels == region], axis=0)) == 1


def test_run_writes_a_psd_that_imagemagick_reads_layer_by_layer(tmp_path, dataset, tiny_model):
    """--layers --layers-format psd: ImageMagick (not psd-tools, which wrote it) reads three
    named layers of the sketch's size, with multiply on the lines and the soft colour
    hidden; the layers hold the finished flats and lines, and the merged image, which
    Pillow reads, is the flat result."""
    import shutil
    import subprocess

    from PIL import Image

    if shutil.which("identify") is None:
        reason = "ImageMagick is not installed (apt-get install imagemagick; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    big = _run_flat_with_layers(tmp_path, dataset, tiny_model, (200, 150), "--layers-format", "psd")
    out = tmp_path / "out"
    assert not (out / "a.ora").exists() and (out / "a.regions.png").exists()
    psd = out / "a.psd"
    info = subprocess.run(["identify", "-format", "%[label]|%w|%h|%[compose]\n", str(psd)],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(info) == 4, info  # the merged image, then one line per layer, bottom first
    layers = [line.split("|") for line in info[1:]]
    assert [name for name, *_ in layers] == ["soft colour", "flats", "lines"]
    assert all((w, h) == ("200", "150") for _, w, h, _ in layers)
    assert layers[1][3] == "Over" and layers[2][3] == "Multiply"
    assert layers[0][3] == "None", "the soft colour layer is hidden"

    def layer(i):
        png = subprocess.run(["convert", f"{psd}[{i}]", "-alpha", "off", "png:-"], capture_output=True,
                             check=True).stdout
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    flat = np.asarray(Image.open(out / "a.png").convert("RGB")).astype(np.int32)
    flats, lines = layer(2).astype(np.int32), layer(3).astype(np.int32)
    assert np.array_equal(lines, cv2.cvtColor(big, cv2.COLOR_BGR2RGB))
    assert np.abs(flats * lines / 255.0 - flat).max() <= 1.0
    labels = cv2.imread(str(out / "a.regions.png"), cv2.IMREAD_UNCHANGED)
    for region in np.unique(labels):
        assert len(np.unique(flats[labels == region], axis=0)) == 1
    merged = np.asarray(Image.open(psd).convert("RGB")).astype(np.int32)
    assert np.abs(merged - flat).max() <= 2


def test_a_4000_px_scan_is_filled_at_4000_px_while_the_network_runs_at_its_own_size(tmp_path, dataset, tiny_model,
                                                                                        monkeypatch):
    from PIL import Image

    from colorize.infer.colorizer import Colorizer
    from colorize.infer.folder import colour_files

    src = tmp_path / "in"
    src.mkdir()
    sketch = cv2.resize(cv2.imread(str(_sketch_file(dataset))), (4000, 4000),
                        interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(src / "scan.png"), sketch)
    colorizer = Colorizer.from_pretrained(tiny_model, device="cpu")
    seen = []
    real = colorizer.colour_squares

    def spy(squares, *args, **kwargs):
        seen.extend(square.shape for square in squares)
        return real(squares, *args, **kwargs)

    monkeypatch.setattr(colorizer, "colour_squares", spy)
    report = colour_files(colorizer, [src], tmp_path / "out", tags="red heart", finish="flat", progress=False,
                          max_pixels=20_000_000)
    assert report.coloured == 1, report.records[0].message
    assert seen == [(colorizer.size, colorizer.size, 3)]
    with Image.open(tmp_path / "out" / "scan.png") as result:
        assert result.size == (4000, 4000)


def test_run_says_when_a_sketch_is_finished_soft_instead_of_flat(tmp_path, tiny_model):
    from click.testing import CliRunner

    from colorize.cli import main

    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "blank.png"), np.full((120, 90, 3), 255, np.uint8))
    lines = np.full((120, 90, 3), 255, np.uint8)
    cv2.rectangle(lines, (20, 20), (70, 100), (0, 0, 0), 2)
    cv2.imwrite(str(src / "box.png"), lines)
    result = CliRunner().invoke(main, ["run", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model),
                                       "--finish", "flat", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "blank.png: finished soft, not flat: it has no lines to fill between" in result.output
    assert "box.png: finished soft" not in result.output
    assert (tmp_path / "out" / "blank.png").exists() and (tmp_path / "out" / "box.png").exists()


def test_colorizer_layers_gives_both_finishes_of_one_colouring(dataset, tiny_model):
    from colorize.infer.colorizer import Colorizer

    colorizer = Colorizer.from_pretrained(tiny_model, device="cpu")
    sketch = _sketch_file(dataset)
    layers = colorizer.layers(sketch, "red heart")
    assert layers.soft.shape == layers.flats.shape == layers.sketch.shape and layers.labels.min() >= 1
    if layers.finish == "flat":
        assert np.array_equal(layers.result, colorizer.colorize(sketch, "red heart", finish="flat"))
    assert np.array_equal(lay_lines(layers.soft, layers.sketch), colorizer.colorize(sketch, "red heart", finish="soft"))


def test_a_grid_with_no_seed_left_is_finished_not_hung():
    """A dense grid once left the watershed no seed, and the fill-in loop spun forever."""
    grid = np.full((500, 500, 3), 255, np.uint8)
    grid[::4] = grid[:, ::4] = grid[1::4] = grid[:, 1::4] = 0
    square, box = fit_square(grid, 64)
    for how in ("flat", "soft"):
        finished = finish_layers(square, grid, box, how=how, regions=True)
        assert finished.labels.min() >= 1 and finished.result.shape == grid.shape


def test_medians_by_sorting_equal_medians_by_histogram(monkeypatch):
    """Hundreds of thousands of regions (a noise upload) take the sorting path: same medians, no 1.7 GB histogram."""
    import colorize.finish.flats as flats

    rng = np.random.default_rng(0)
    keys, values = rng.integers(0, 5000, 200_000), rng.integers(0, 256, (200_000, 3)).astype(np.uint8)
    keys[:10] = 4999  # a key with an even count and one with none
    by_histogram = flats._medians(keys, values, 5001)
    monkeypatch.setattr(flats, "HISTOGRAM_CELLS", 0)
    by_sorting = flats._medians(keys, values, 5001)
    assert (by_sorting == by_histogram).all() and (by_sorting[5000] == 0).all()
