"""Finishing: regions from the line art (leak-proof), flat colours, and the hard inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from colorize.finish import finish_layers
from colorize.finish.flats import flat_colours, region_medians
from colorize.finish.regions import find_regions, line_mask


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


def test_a_sketch_that_is_all_hatching_still_finishes():
    img = _paper()
    for x in range(0, 256, 3):
        cv2.line(img, (x, 0), (x + 80, 255), (0, 0, 0), 1)
    labels = find_regions(img)
    assert labels.shape == (256, 256) and labels.min() >= 1
    soft = np.full((64, 64, 3), (200, 40, 40), np.uint8)
    done = finish_layers(soft, img, (0, 0, 64, 64), how="flat")
    assert done.result.shape == img.shape


def test_a_sketch_with_no_lines_is_one_white_region():
    img = _paper()
    labels = find_regions(img)
    assert (labels == 1).all()
    soft = np.full((64, 64, 3), 250, np.uint8)
    done = finish_layers(soft, img, (0, 0, 64, 64), how="flat")
    assert (done.result == 255).all()


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


def test_run_writes_flats_and_layered_files_that_an_independent_reader_opens(tmp_path, dataset, tiny_model):
    """--finish flat --layers: the PNG, an OpenRaster file read back with zipfile + XML (not
    with the library that wrote it), and a 16-bit region map; compositing the layers gives
    the flat result."""
    import io
    import xml.etree.ElementTree as ET
    import zipfile

    from click.testing import CliRunner
    from PIL import Image

    from colorize.cli import main

    src = tmp_path / "in"
    src.mkdir()
    big = cv2.resize(cv2.imread(str(next((dataset / "sketch").glob("*.png")))), (300, 300),
                     interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(src / "a.png"), big)
    result = CliRunner().invoke(main, ["run", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model),
                                       "--finish", "flat", "--layers", "--tags", "red heart", "--no-progress"])
    assert result.exit_code == 0, result.output
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
