"""`colorize data import` and `data openclipart` on SVGs the tests write: metadata tags,
vector line art, the extractor fallback, each filter, and hostile files.

The SVGs are small hand-written clip art in Openclipart's own format (Inkscape-style RDF
metadata with dc:title, dc:subject and dc:creator); they are written here, so CI needs
neither the Debian package nor the network.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize.cli import main
from colorize.data.importer import REPORT_NAME, import_folder
from colorize.data.manifest import Manifest
from colorize.data.svgart import Filters, read_svg, svg_tags

NS = ('xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
      'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:cc="http://web.resource.org/cc/" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/"')


def metadata(title: str, keywords: list[str], creator: str = "Jane Artist") -> str:
    items = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    return (f"<metadata><rdf:RDF><cc:Work rdf:about=''><dc:title>{title}</dc:title>"
            f"<dc:subject><rdf:Bag>{items}</rdf:Bag></dc:subject>"
            f"<dc:creator><cc:Agent><dc:title>{creator}</dc:title></cc:Agent></dc:creator>"
            f"<dc:publisher><cc:Agent><dc:title>Open Clip Art Library</dc:title></cc:Agent></dc:publisher>"
            f"</cc:Work></rdf:RDF></metadata>")


def svg(body: str, size: str = 'width="200" height="200"', meta: str = "") -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<svg {NS} {size}>{meta}{body}</svg>'


APPLE = svg(  # outlines as black strokes over flat fills: the line art is in the vectors
    '<circle cx="100" cy="110" r="70" fill="#d42020" stroke="#000" stroke-width="6"/>'
    '<path d="M100 40 C 120 10, 150 10, 160 30 C 140 40, 120 45, 100 40 Z" style="fill:#30a030;stroke:black;'
    'stroke-width:5"/>',
    meta=metadata("Red Apple_01", ["fruit", "food, clip art", "Jane Artist", "0x865f868", ""]))
BEHIND = svg(  # an outline drawn as a black shape behind a smaller coloured one (common in clip art)
    '<style>.skin{fill:#f0c090}</style><rect x="20" y="20" width="160" height="160" fill="#000"/>'
    '<rect class="skin" x="28" y="28" width="144" height="144"/>',
    meta=metadata("Cracker", ["food"]))
FILLS_ONLY = svg(  # colour shapes touching, no dark paint at all: lines must come from an extractor
    '<rect width="200" height="200" fill="#fff"/><circle cx="70" cy="100" r="50" fill="#2060e0"/>'
    '<circle cx="130" cy="100" r="50" fill="#f0c000"/>',
    meta=metadata("Two Balls", ["toys"]))


def bitmap_uri(colour: tuple[int, int, int], size: int = 64) -> str:
    noise = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
    noise[..., 0] = colour[0]
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


FILTERED = {  # file -> the reason its line in the report gives
    "mono.svg": (svg('<circle cx="100" cy="100" r="60" fill="none" stroke="#000" stroke-width="4"/>'
                     '<path d="M60 100 L140 100" stroke="#333" stroke-width="3"/>'), "nearly monochrome"),
    "photo.svg": (svg(f'<image x="0" y="0" width="200" height="200" xlink:href="{bitmap_uri((200, 0, 0))}"/>'
                      '<circle cx="100" cy="100" r="20" fill="#20c020" stroke="#000" stroke-width="3"/>'),
                  "photo-like embedded bitmap"),
    "text.svg": (svg('<text x="20" y="100" font-size="40" fill="#e02020">SALE</text>'), "text only"),
    "icon.svg": (svg('<circle cx="8" cy="8" r="6" fill="#e02020" stroke="#000"/>', 'width="16" height="16"'),
                 "tiny icon"),
    "background.svg": (svg('<rect width="200" height="200" fill="#2050c0"/>'
                           '<circle cx="100" cy="100" r="20" fill="#e02020" stroke="#000" stroke-width="3"/>'),
                       "one flat colour covers"),
}


def billion_laughs() -> str:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
    return (f'<?xml version="1.0"?><!DOCTYPE svg [{entities}]><svg xmlns="http://www.w3.org/2000/svg" '
            f'width="10" height="10"><title>&lol9;</title></svg>')


BAD = {  # file -> what its report line says
    "malformed.svg": ("<svg xmlns='http://www.w3.org/2000/svg'><g></svg>", "not well-formed XML"),
    "laughs.svg": (billion_laughs(), "amplification"),
    "entity.svg": ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
                   '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><title>&x;</title></svg>',
                   "undefined entity"),
    "dust.svg": (svg('<rect width="1" height="1" fill="#f00"/>' * 100_000), "over 20,000 elements"),
    "zero.svg": (svg('<circle r="5" fill="red"/>', 'viewBox="0 0 0 0"'), "empty picture"),
    "huge.svg": (svg('<circle r="5" fill="red"/>', 'viewBox="0 0 1e12 1e12"'), "a broken file"),
    "nosize.svg": (svg('<circle r="5" fill="red"/>', ""), "has no size"),
    "html.svg": ("<html><body>not a drawing</body></html>", "not <svg>"),
    "panic.svg": (svg('<filter id="f"><feOffset dx="1e308" dy="1e308"/></filter><circle cx="100" cy="100" r="60" '
                      'fill="#d42020" filter="url(#f)"/>'), "the renderer failed on it (a panic"),  # Rust's unwrap
}


@pytest.fixture(scope="module")
def clipart(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clipart")
    src = root / "svg"
    for folder, files in {"food": {"apple.svg": APPLE, "cracker.svg": BEHIND},
                          "toys": {"balls.svg": FILLS_ONLY},
                          "misc": {name: text for name, (text, _) in {**FILTERED, **BAD}.items()}}.items():
        (src / folder).mkdir(parents=True)
        for name, text in files.items():
            (src / folder / name).write_text(text, encoding="utf-8")
    # an external bitmap the SVG points at: it must never be read into the picture
    secret = root / "secret.png"
    Image.new("RGB", (50, 50), (255, 0, 255)).save(secret)
    (src / "food" / "external.svg").write_text(svg(
        f'<image x="0" y="0" width="200" height="200" xlink:href="{secret}"/>'
        f'<image x="0" y="0" width="200" height="200" href="file://{secret}"/>'
        '<image x="0" y="0" width="200" height="200" xlink:href="https://example.com/x.png"/>'
        '<use xlink:href="other.svg#shape"/><circle cx="100" cy="100" r="60" style="fill:url(other.svg#g)"/>'
        '<circle cx="100" cy="100" r="40" fill="#e0a020" stroke="#000" stroke-width="5"/>',
        meta=metadata("Orange", ["fruit"])), encoding="utf-8")
    (src / "food" / "sidecar.svg").write_text(APPLE.replace("Red Apple_01", "Green Apple"), encoding="utf-8")
    (src / "food" / "sidecar.txt").write_text("granny smith, green apple", encoding="utf-8")
    return src


@pytest.fixture(scope="module")
def built(clipart, tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "openclipart"
    result = CliRunner().invoke(main, ["data", "openclipart", "--src", str(clipart), "--out", str(out),
                                       "--size", "64", "--workers", "1"])
    return out, result


def rows(out: Path) -> dict[str, dict]:
    return {row["original"]: row for row in Manifest(out)}


def test_tags_come_from_the_metadata_without_noise(built):
    out, result = built
    assert result.exit_code == 0, result.output
    found = rows(out)
    assert found["food/apple.svg"]["tags"] == ["red apple", "fruit", "food"]
    assert found["toys/balls.svg"]["tags"] == ["two balls", "toys"]
    assert found["food/sidecar.svg"]["tags"] == ["granny smith", "green apple"]  # a sidecar still wins
    assert all(row["source"] == "openclipart" for row in found.values())
    assert json.loads((out / "dataset.json").read_text())["source"] == "openclipart"


def test_line_art_comes_from_the_vectors_or_the_extractor(built):
    out, result = built
    found = rows(out)
    assert found["food/apple.svg"]["line_art"] == "vector" and found["food/cracker.svg"]["line_art"] == "vector"
    assert found["toys/balls.svg"]["line_art"] in ("xdog", "dilate", "adaptive")
    assert "SVG line art:" in result.output and "vector" in result.output
    with Image.open(out / found["food/apple.svg"]["sketch"]) as im:
        lines = np.asarray(im.convert("L"))
    with Image.open(out / found["food/apple.svg"]["color"]) as im:
        colour = np.asarray(im.convert("RGB")).astype(int)
    assert lines[35, 32] > 200 and colour[35, 32, 0] > 150 > colour[35, 32, 1]  # red inside, paper in the lines
    ring = lines[int(35 - 70 * 0.32), 32]  # on the apple's stroke (r 70 of 200 px, centre 110 -> 64 px)
    assert lines.min() < 60 and (lines < 128).mean() < 0.2, ring
    with Image.open(out / found["food/cracker.svg"]["sketch"]) as im:
        cracker = np.asarray(im.convert("L"))
    assert cracker[32, 32] > 200 and cracker[32, 8] < 60  # the black shape behind shows only as its rim


def test_each_filtered_picture_gets_its_reason(built):
    out, _ = built
    report = (out / REPORT_NAME).read_text()
    for name, (_, reason) in FILTERED.items():
        lines = [line for line in report.splitlines() if line.startswith(f"misc/{name}:")]
        assert len(lines) == 1 and reason in lines[0] and lines[0].endswith("skipped"), (name, report)
        assert f"misc/{name}" not in rows(out)


def test_each_hostile_file_gets_one_line_and_the_rest_go_on(built):
    out, result = built
    report = (out / REPORT_NAME).read_text()
    for name, (_, reason) in BAD.items():
        lines = [line for line in report.splitlines() if line.startswith(f"misc/{name}:")]
        assert len(lines) == 1 and reason in lines[0], (name, report)
    assert f"failed {len(BAD)}" in result.output and f"filtered {len(FILTERED)} (not colour illustrations)" in result.output


def test_no_file_outside_the_svg_is_read(built):
    out, _ = built
    row = rows(out)["food/external.svg"]
    with Image.open(out / row["color"]) as im:
        colour = np.asarray(im.convert("RGB")).astype(int)
    magenta = (colour[..., 0] > 200) & (colour[..., 1] < 60) & (colour[..., 2] > 200)
    assert not magenta.any() and colour[32, 32, 0] > 180  # the orange circle, and nothing of secret.png


def test_openclipart_is_idempotent_and_says_how_to_install(built, clipart, tmp_path):
    out, first = built
    again = CliRunner().invoke(main, ["data", "openclipart", "--src", str(clipart), "--out", str(out),
                                      "--size", "64", "--workers", "1"])
    assert again.exit_code == 0 and "imported 0" in again.output and "already there 5" in again.output, again.output
    assert rows(out)["food/apple.svg"]["line_art"] == "vector" and rows(out)["food/apple.svg"]["width"] == 200
    missing = CliRunner().invoke(main, ["data", "openclipart", "--out", str(tmp_path / "x")],
                                 env={"PATH": ""}) if not Path("/usr/share/openclipart/svg").is_dir() else None
    if missing is not None:
        assert missing.exit_code != 0 and "apt-get install openclipart-svg" in missing.output
    elsewhere = CliRunner().invoke(main, ["data", "openclipart", "--src", str(tmp_path / "nothing"),
                                          "--out", str(tmp_path / "x")])
    assert elsewhere.exit_code != 0 and "no Openclipart SVGs here" in elsewhere.output


def test_filters_are_flags(clipart, tmp_path):
    report = import_folder(clipart / "misc", tmp_path / "loose", size=64, workers=1, progress=False)
    assert report.filtered == len(FILTERED)
    from colorize.data.svgart import Filters

    lenient = import_folder(clipart / "misc", tmp_path / "lenient", size=64, workers=1, progress=False,
                            filters=Filters(min_colour=0, max_background=1, min_side=0, max_bitmap=1))
    assert lenient.filtered == 1  # text only is no picture whatever the thresholds


def test_svg_tags_drop_names_licences_and_numbering():
    art = read_svg(svg("<rect width='9' height='9' fill='red'/>",
                       meta=metadata("Clipart by Jane Artist - Cat_02", ["Public Domain", "animal", "CAT", "svg",
                                                                      "l&amp;eacute;zard"])), categories=["animals", "reptiles"])
    assert art.tags == ["cat", "animal", "lézard", "animals", "reptiles"]
    assert svg_tags(art.root) == ["cat", "animal", "lézard"]


# -- files that would crash, hang or stop the import ---------------------------------------


def nested(depth: int) -> str:
    """A coloured apple ``depth`` <g> levels down: plain clip art, except for its nesting."""
    return svg("<g>" * depth + '<circle cx="100" cy="100" r="60" fill="#d42020" stroke="#000" stroke-width="5"/>'
               + "</g>" * depth)


def use_chain(links: int) -> str:
    """A shape reached through ``links`` <use> elements, each naming the one before: deep only by reference."""
    chain = "".join(f'<g id="u{i}"><use xlink:href="#u{i - 1}"/></g>' for i in range(1, links))
    return svg(f'<defs><g id="u0"><circle cx="100" cy="100" r="60" fill="#d42020" stroke="#000"/></g>{chain}</defs>'
               f'<use xlink:href="#u{links - 1}"/>')


def filtered(primitive: str) -> str:
    return svg(f'<filter id="f">{primitive}</filter><circle cx="100" cy="100" r="60" fill="#d42020" stroke="#000" '
               f'stroke-width="5" filter="url(#f)"/>')


def import_lines(src: Path, out: Path, **kwargs) -> tuple[object, dict[str, list[str]]]:
    """Import ``src``; the report, and each file's report lines by name."""
    report = import_folder(src, out, size=64, workers=1, progress=False, **kwargs)
    lines: dict[str, list[str]] = {}
    for line in (out / REPORT_NAME).read_text().splitlines():
        lines.setdefault(line.split(":", 1)[0], []).append(line)
    return report, lines


@pytest.mark.timeout(120)
def test_deep_nesting_is_refused_by_name_before_it_reaches_the_renderer(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    deep = {"g300.svg": nested(300),  # resvg segfaults from about 250 levels
            "g5000.svg": nested(5000),  # 35 KB: ET.tostring raised RecursionError here
            "chain.svg": use_chain(150)}  # 150 <use> links: 300 levels once the renderer follows them
    for name, text in {**deep, "apple.svg": APPLE, "shallow.svg": nested(60)}.items():
        (src / name).write_text(text, encoding="utf-8")
    report, lines = import_lines(src, tmp_path / "out")
    for name in deep:
        assert len(lines[name]) == 1 and "nests over 100 levels deep" in lines[name][0], lines
    assert report.failed == len(deep) and report.imported == 2
    assert {row["original"] for row in Manifest(tmp_path / "out")} == {"apple.svg", "shallow.svg"}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_killed_by_the_renderer_fails_its_file_and_the_rest_go_on(tmp_path, monkeypatch, workers):
    import multiprocessing

    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the lifted depth limit reaches the workers only when they are forked")
    monkeypatch.setattr("colorize.data.svgart.MAX_DEPTH", 100_000)  # let the real segfault through
    src = tmp_path / "src"
    src.mkdir()
    for name, text in {"a.svg": APPLE, "b-crash.svg": nested(300), "c.svg": FILLS_ONLY, "d-crash.svg": nested(400),
                       "e.svg": BEHIND}.items():
        (src / name).write_text(text, encoding="utf-8")
    report = import_folder(src, tmp_path / "out", size=64, workers=workers, progress=False)
    lines = (tmp_path / "out" / REPORT_NAME).read_text().splitlines()
    for name in ("b-crash.svg", "d-crash.svg"):
        mine = [line for line in lines if line.startswith(f"{name}:")]
        assert len(mine) == 1 and "its worker crashed (signal SIGSEGV)" in mine[0], lines
    assert report.failed == 2 and report.imported == 3
    assert {row["original"] for row in Manifest(tmp_path / "out")} == {"a.svg", "c.svg", "e.svg"}


@pytest.mark.timeout(60)
def test_a_file_over_the_time_limit_is_stopped_and_the_next_one_imported(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    # A dilation this wide over the whole canvas takes resvg minutes at 256 px; the next file is
    # imported by a fresh worker.
    (src / "a-slow.svg").write_text(svg('<filter id="f"><feMorphology operator="dilate" radius="150"/></filter>'
                                        '<rect width="200" height="200" fill="#d42020" filter="url(#f)"/>'),
                                    encoding="utf-8")
    (src / "b.svg").write_text(APPLE, encoding="utf-8")
    started = time.monotonic()
    report = import_folder(src, tmp_path / "out", size=256, workers=1, progress=False, time_limit=1.5)
    assert time.monotonic() - started < 30
    lines = (tmp_path / "out" / REPORT_NAME).read_text().splitlines()
    assert lines == ["a-slow.svg: took over 1.5 s (--timeout), so it was stopped; skipped. Raise --timeout if "
                     "files this slow are wanted"]
    assert report.failed == 1 and report.imported == 1
    assert [row["original"] for row in Manifest(tmp_path / "out")] == ["b.svg"]


@pytest.mark.timeout(60)
def test_a_billion_turbulence_octaves_render_as_ten(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for octaves in (10, 1_000_000_000):
        (src / f"turbulence-{octaves}.svg").write_text(filtered(
            f'<feTurbulence baseFrequency="0.05" numOctaves="{octaves}" seed="3"/><feComposite in2="SourceGraphic" '
            f'operator="in"/>'), encoding="utf-8")
    report = import_folder(src, tmp_path / "out", size=64, workers=1, progress=False, time_limit=10,
                           filters=Filters(min_colour=0, max_background=1))
    assert report.imported == 2, (tmp_path / "out" / REPORT_NAME).read_text()
    colours = {row["original"]: np.asarray(Image.open(tmp_path / "out" / row["color"]))
               for row in Manifest(tmp_path / "out")}
    assert np.array_equal(colours["turbulence-10.svg"], colours["turbulence-1000000000.svg"])


@pytest.mark.timeout(60, method="thread")  # a worker blocked in open() would hold the pool past the signal
def test_a_fifo_named_svg_or_png_is_skipped_with_one_line(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "apple.svg").write_text(APPLE, encoding="utf-8")
    (tmp_path / "elsewhere.svg").write_text(BEHIND, encoding="utf-8")
    (src / "linked.svg").symlink_to(tmp_path / "elsewhere.svg")  # a symlink to a regular file is imported
    os.mkfifo(src / "pipe.svg")
    os.mkfifo(src / "pipe.png")
    report, lines = import_lines(src, tmp_path / "out")
    for name in ("pipe.svg", "pipe.png"):
        assert lines[str(src / name)] == [f"{src / name}: is a FIFO (named pipe), not an image file; skipped"], lines
    assert report.imported == 2 and report.failed == 0
    assert {row["original"] for row in Manifest(tmp_path / "out")} == {"apple.svg", "linked.svg"}
