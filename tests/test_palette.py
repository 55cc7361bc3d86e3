"""Palettes: reading and writing the files painters use, snapping regions to them, clustering pictures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from colorize.colour import delta_e
from colorize.finish import finish_layers, flat_regions, upscale
from colorize.infer.consistent import page_colours, palette_paths, run_palette
from colorize.palette import (FORMATS, Palette, PaletteError, Swatch, cluster, palette_note, parse_palette,
                              read_palette, snap, write_palette)

GPL = """GIMP Palette
Name: Miku
Columns: 4
#
# hair first
 57 197 187\thair
255 255 255 shirt sleeves
57 197 187\tsame hex, second name
 57 197 188\thair
"""


def test_a_gimp_palette_keeps_names_drops_repeated_hex_values_and_keeps_repeated_names():
    palette = parse_palette(GPL, ".gpl")
    assert palette.name == "Miku"
    assert [(s.rgb, s.name) for s in palette.swatches] == [
        ((57, 197, 187), "hair"), ((255, 255, 255), "shirt sleeves"), ((57, 197, 188), "hair")]


def test_a_gimp_palette_with_windows_line_ends_and_a_bom_reads_the_same(tmp_path):
    path = tmp_path / "miku.gpl"
    path.write_bytes(b"\xef\xbb\xbf" + GPL.replace("\n", "\r\n").encode())
    assert read_palette(path) == parse_palette(GPL, ".gpl")


def test_a_file_that_starts_gimp_palette_is_one_whatever_its_suffix():
    assert parse_palette(GPL, ".txt") == parse_palette(GPL, ".gpl")


@pytest.mark.parametrize("text, expected", [
    ("#ff0000\n", [((255, 0, 0), "")]),
    ("ff0000 red hair\n", [((255, 0, 0), "red hair")]),
    ("#F00 red\n", [((255, 0, 0), "red")]),
    ("hair: #00ff00\n", [((0, 255, 0), "hair")]),
    ("; a comment\n// another\n# skin tones\n\n#ffe0bd light\n", [((255, 224, 189), "light")]),
    (";paint.net Palette File\nFF102030\n80405060\n", [((16, 32, 48), ""), ((64, 80, 96), "")]),
])
def test_hex_lists_in_their_common_spellings(text, expected):
    assert [(s.rgb, s.name) for s in parse_palette(text, ".hex").swatches] == expected


@pytest.mark.parametrize("suffix, text, line, words", [
    (".gpl", "GIMP Palette\n1 2\n", 2, "three values"),
    (".gpl", "GIMP Palette\nName: x\n#\n10 20 300 red\n", 4, "0-255"),
    (".gpl", "GIMP Palette\n10 20 thirty\n", 2, "three values"),
    (".gpl", "JASC-PAL\n0100\n", 1, "GIMP Palette"),
    (".hex", "#ff0000\n#00ff00\nnot a colour\n", 3, "not a hex colour"),
    (".hex", "#ff0000\n#12345\n", 2, "not a hex colour"),
    (".hex", "#ff0000ff\n", 1, "ambiguous"),
])
def test_a_malformed_palette_is_refused_with_its_file_and_line(suffix, text, line, words):
    with pytest.raises(PaletteError) as caught:
        parse_palette(text, suffix, f"colours{suffix}")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"colours{suffix}, line {line}: ") and words in str(caught.value)


@pytest.mark.parametrize("suffix, text", [(".hex", ""), (".hex", "; only comments\n"), (".gpl", "GIMP Palette\n#\n")])
def test_an_empty_palette_is_refused_with_what_to_write(suffix, text):
    with pytest.raises(PaletteError, match="no colours: add lines such as"):
        parse_palette(text, suffix, "empty" + suffix)


def test_a_one_colour_palette_is_read_with_a_note():
    palette = parse_palette("#d83a3a hair\n", ".hex")
    assert len(palette) == 1
    assert "one colour (hair)" in palette_note(palette, "hair.hex")
    assert palette_note(parse_palette("#d83a3a\n#000000\n", ".hex")) is None


def test_adobe_swatch_exchange_and_unknown_formats_are_refused_with_the_reason(tmp_path):
    ase = tmp_path / "swatches.ase"
    ase.write_bytes(b"ASEF\x00\x01\x00\x00\x00\x00\x00\x00")
    with pytest.raises(PaletteError, match=r"swatches.ase: .*no maintained Python library.*\.gpl"):
        read_palette(ase)
    odd = tmp_path / "colours.act"
    odd.write_text("#ff0000\n")
    with pytest.raises(PaletteError, match=r"unknown palette format '.act'; use one of .gpl, .hex, .txt"):
        read_palette(odd)
    binary = tmp_path / "binary.hex"
    binary.write_bytes(b"#ff0000\n\xff\xfe\x00")
    with pytest.raises(PaletteError, match="line 2: not a text file"):
        read_palette(binary)


@pytest.mark.parametrize("suffix", [s for s, f in FORMATS.items() if f.write])
def test_a_written_palette_reads_back_and_is_never_written_over_silently(tmp_path, suffix):
    palette = Palette((Swatch((216, 58, 58), "hair", share=0.25), Swatch((250, 220, 190), share=0.75)), "Aoi")
    path = write_palette(palette, tmp_path / f"aoi{suffix}")
    back = read_palette(path)
    assert back.rgb().tolist() == palette.rgb().tolist()
    assert back.swatches[0].name == "hair"
    assert back.swatches[1].label == "#fadcbe"
    if suffix == ".gpl":
        assert "# 25.0% of the pixels" in path.read_text()
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_palette(Palette((Swatch((0, 0, 0)),)), path)
    assert read_palette(path).rgb().tolist() == palette.rgb().tolist()
    write_palette(Palette((Swatch((0, 0, 0)),)), path, overwrite=True)
    assert read_palette(path).rgb().tolist() == [[0, 0, 0]]


def test_snap_takes_the_nearest_palette_colour_within_the_distance_and_keeps_the_rest():
    palette = parse_palette("#d83a3a hair\n#fadcbc skin\n#1e50a0 coat\n", ".hex")
    colours = np.array([[220, 60, 55], [248, 218, 190], [30, 160, 60], [214, 58, 58]], np.uint8)
    snapped = snap(colours, palette, max_de=5)
    assert snapped.index.tolist() == [0, 1, -1, 0]
    assert snapped.rgb.tolist() == [[216, 58, 58], [250, 220, 188], [30, 160, 60], [216, 58, 58]]
    assert snapped.distance[2] > 5 >= snapped.distance[0]
    assert np.isclose(snapped.distance[0], delta_e(colours[:1], palette.rgb()[:1])[0])
    nearest = float(snapped.distance.min())
    assert nearest > 0
    assert snap(colours, palette, max_de=nearest / 2).index.tolist() == [-1, -1, -1, -1]


def _noisy(colours: dict[tuple[int, int, int], int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = [np.clip(np.array(c) + rng.normal(0, 2, (n, 3)), 0, 255) for c, n in colours.items()]
    return np.concatenate(parts).round().astype(np.uint8)


def test_clustering_finds_each_colour_and_its_share_whatever_the_order_of_the_pixels():
    pixels = _noisy({(216, 58, 58): 3000, (250, 220, 188): 6000, (30, 80, 160): 1000})
    palette = cluster(pixels)
    assert len(palette) == 3
    for swatch, (colour, share) in zip(palette.swatches, [((250, 220, 188), 0.6), ((216, 58, 58), 0.3),
                                                          ((30, 80, 160), 0.1)]):
        assert delta_e(np.array(swatch.rgb, np.uint8), np.array(colour, np.uint8)) < 1.5
        assert swatch.share == pytest.approx(share, abs=0.01)
    shuffled = np.random.default_rng(1).permutation(pixels)
    assert cluster(shuffled) == palette
    assert len(cluster(pixels, count=2)) == 2
    assert len(cluster(pixels, merge_de=200)) == 1


def test_clustering_drops_the_few_pixels_between_two_fills():
    pixels = np.concatenate([np.tile([[216, 58, 58]], (5000, 1)), np.tile([[30, 80, 160]], (5000, 1)),
                             np.tile([[123, 69, 109]], (20, 1))]).astype(np.uint8)
    assert sorted(s.rgb for s in cluster(pixels).swatches) == [(30, 80, 160), (216, 58, 58)]


def _two_boxes() -> np.ndarray:
    sketch = np.full((128, 128, 3), 255, np.uint8)
    cv2.rectangle(sketch, (10, 10), (60, 117), (0, 0, 0), 3)
    cv2.rectangle(sketch, (67, 10), (117, 117), (0, 0, 0), 3)
    return sketch


def test_flat_regions_snap_to_the_palette_and_the_paper_stays_white():
    sketch = _two_boxes()
    soft = np.full((32, 32, 3), 255, np.uint8)
    soft[3:29, 3:15] = (220, 60, 55)    # left box: near the palette's red
    soft[3:29, 17:29] = (30, 160, 60)   # right box: far from every palette colour
    palette = parse_palette("#d83a3a hair\n#f8f8f8 white shirt\n", ".hex")
    plain = finish_layers(soft, sketch, (0, 0, 32, 32), how="flat")
    done = finish_layers(soft, sketch, (0, 0, 32, 32), how="flat", palette=palette, max_de=8)
    left, right, paper = done.labels[60, 35], done.labels[60, 92], done.labels[2, 2]
    assert done.flats[60, 35].tolist() == [216, 58, 58]
    assert done.flats[60, 92].tolist() == plain.flats[60, 92].tolist()
    assert done.flats[2, 2].tolist() == [255, 255, 255]  # paper never takes the near-white palette colour
    assert done.snapped.index[left - 1] == 0 and done.snapped.index[right - 1] == -1
    assert done.snapped.index[paper - 1] == -1
    np.testing.assert_array_equal(done.flats[done.labels == right], plain.flats[plain.labels == right])


def test_a_page_adds_its_flat_colours_to_the_run_palette_by_their_share_of_the_page():
    """--consistent's palette is made of the pages' flat colours (the paper around the drawing
    left out), each weighted by its share of its page: the same drawing scanned four times as
    big adds the same weights, so big scans do not outvote small pages."""
    soft = np.full((32, 32, 3), 255, np.uint8)
    soft[3:29, 3:15] = (216, 58, 58)
    soft[3:29, 17:29] = (30, 80, 160)
    added = {}
    for size in (256, 1024):
        sketch = cv2.resize(_two_boxes(), (size, size), interpolation=cv2.INTER_NEAREST)
        found = flat_regions(upscale(soft, sketch, (0, 0, 32, 32)), sketch, soft.shape)
        added[size] = page_colours(found)
    (colours, weights), big = added[256], added[1024]
    assert len(colours) == 2 and (delta_e(colours, big[0]) < 1).all()  # the two boxes; not the paper
    assert delta_e(colours[0], np.array([216, 58, 58], np.uint8)) < 1
    assert delta_e(colours[1], np.array([30, 80, 160], np.uint8)) < 1
    assert ((0.25 < weights) & (weights < 0.4)).all()
    np.testing.assert_allclose(weights, big[1], atol=0.02)
    palette = run_palette([added[256], added[1024]])
    assert {s.rgb for s in palette.swatches} == set(map(tuple, colours.tolist()))
    # a page finished soft (here all ink: one region, the model's red) adds nothing
    ink = np.zeros((256, 256, 3), np.uint8)
    found = flat_regions(upscale(soft, ink, (0, 0, 32, 32)), ink, soft.shape)
    assert found.problem is not None and len(page_colours(found)[0]) == 0


def test_a_run_palette_starts_from_the_given_one_and_adds_only_far_colours():
    base = parse_palette("#d83a3a hair\n", ".hex")
    # each page's flat colours, with their shares of the page
    pages = [(colours, np.full(len(colours), 1 / len(colours)))
             for colours in (_noisy({(214, 60, 56): 10, (30, 80, 160): 10}, seed) for seed in range(3))]
    palette = run_palette(pages, base=base, max_de=10)
    assert palette.swatches[0] == base.swatches[0]
    assert len(palette) == 2
    assert delta_e(palette.rgb()[1], np.array([30, 80, 160], np.uint8)) < 1.5
    assert run_palette(pages[::-1], base=base, max_de=10) == palette


def test_each_tag_set_gets_its_own_palette_file_and_one_tag_set_gets_palette_gpl(tmp_path):
    assert palette_paths([("man", "red hair")] * 3, tmp_path) == {("man", "red hair"): tmp_path / "palette.gpl"}
    paths = palette_paths([("man", "red hair"), (), ("man", "red-hair"), ("a",) * 40], tmp_path)
    names = {tags: path.name for tags, path in paths.items()}
    assert names[("man", "red hair")] == "palette-man-red-hair.gpl"
    assert names[()] == "palette-no-tags.gpl"
    assert names[("man", "red-hair")].startswith("palette-man-red-hair-") and len(set(names.values())) == 4
    assert len(names[("a",) * 40]) < 90


def test_an_exact_palette_keeps_the_largest_colour_of_each_near_group():
    pixels = np.array([[216, 58, 58], [212, 60, 60], [30, 80, 160]], np.uint8)
    palette = cluster(pixels, weights=np.array([10.0, 3.0, 5.0]), exact=True)
    assert [(s.rgb, round(s.share, 3)) for s in palette.swatches] == [((216, 58, 58), 0.722), ((30, 80, 160), 0.278)]
    assert cluster(pixels, weights=np.array([10.0, 3.0, 5.0])).swatches[0].rgb != (216, 58, 58)  # the mean


def test_palette_file_names_do_not_depend_on_the_order_of_the_tag_sets_or_their_capitals(tmp_path):
    """Two tag sets that differ only in punctuation share a slug: which one gets the hash must
    not depend on the order the pages came in, or a later run would read the other's palette."""
    sets = [("man", "red-hair"), ("man", "red hair"), ("Woman", "Blue Hair")]
    assert palette_paths(sets, tmp_path) == palette_paths(sets[::-1], tmp_path)
    assert palette_paths(sets, tmp_path)[("Woman", "Blue Hair")].name == "palette-woman-blue-hair.gpl"


def test_a_run_palette_weighs_each_colour_by_its_share_of_the_page():
    """A colour covering a thousandth of a page is no palette entry beside one covering most of it."""
    colours = np.array([(216, 58, 58), (30, 80, 160)], np.uint8)
    palette = run_palette([(colours, np.array([0.6, 0.001]))])
    assert [s.rgb for s in palette.swatches] == [(216, 58, 58)]


def test_a_given_palette_keeps_its_name_and_its_colours_take_the_run_s_within_max_de():
    """The run adds a colour of its own only past --palette-max-de from every given colour: a
    colour 8.4 ΔE2000 from the given red is that red at max_de 10 and a new entry at 5."""
    base = Palette(parse_palette("#d83a3a hair\n", ".hex").swatches, "Miku")
    near = np.array([(186, 88, 88)], np.uint8)
    assert 8 < delta_e(near[0], base.rgb()[0]) < 10
    pages = [(near, np.array([0.5]))]
    within = run_palette(pages, base=base, name="red hair", max_de=10)
    assert len(within) == 1 and within.name == "Miku"
    assert len(run_palette(pages, base=base, name="red hair", max_de=5)) == 2


def test_clustering_keeps_twenty_distinct_fills_beside_stray_pixels():
    grid = [(r, g, b) for r in (0, 128, 255) for g in (0, 128, 255) for b in (0, 128, 255)][:20]
    rng = np.random.default_rng(0)
    pixels = np.concatenate([np.tile(np.array([c], np.uint8), (1000, 1)) for c in grid]
                            + [rng.integers(0, 256, (30, 3)).astype(np.uint8)])
    palette = cluster(pixels, merge_de=1)
    assert len(palette) == 20
    for colour in grid:
        assert delta_e(palette.rgb(), np.array(colour, np.uint8)).min() < 1, colour


def test_merged_colours_take_their_weighted_mean():
    from colorize.colour import lab

    pixels = np.array([(216, 58, 58), (206, 70, 70)], np.uint8)
    palette = cluster(pixels, weights=np.array([9.0, 1.0]))
    assert len(palette) == 1
    mean = (lab(pixels[None])[0] * np.array([[0.9], [0.1]])).sum(axis=0)
    assert np.linalg.norm(lab(palette.rgb()[None])[0, 0] - mean) < 0.6  # within rounding to 8-bit RGB


def test_an_oversized_or_overlong_palette_is_refused(tmp_path):
    from colorize.palette import MAX_BYTES, MAX_COLOURS

    big = tmp_path / "big.hex"
    big.write_text("#ff0000\n" + "; padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(PaletteError, match="a palette file is at most"):
        read_palette(big)
    colours = [f"#{i:06x}" for i in range(MAX_COLOURS + 1)]
    assert len(parse_palette("\n".join(colours[:-1]), ".hex")) == MAX_COLOURS
    with pytest.raises(PaletteError, match=f"{MAX_COLOURS + 1} colours"):
        parse_palette("\n".join(colours), ".hex")
