"""Property tests: whatever a user or a client sends, only the documented error comes out.

Each property feeds generated input to one reader of user data (tag text, tag files,
query strings, manifests, image headers, a whole run, SVG import) and checks two things:
the only exception is the documented one (TagFileError, HTTPException 400, ManifestError,
ImageError; for an import, one report line per file that is not imported, within the
per-file time limit), and no file outside the output folder is touched.

The CI profile keeps each property to a few dozen examples; the "long" profile runs many
more (``python benchmarks/fuzz.py``, or ``HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py``).
"""

from __future__ import annotations

import io
import json
import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from colorize.data.images import ImageError, load_rgb
from colorize.data.manifest import SPLITS, Manifest, ManifestError
from colorize.data.tagfiles import TagFileError, load_tag_table, sidecar_tags
from colorize.data.tags import normalize_tag, parse_tags

settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "3000")), deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Text with the characters that break parsers: separators, quotes, newlines, control and
# invisible characters, combining accents, surrogates-free unicode at large.
TRICKY = st.sampled_from([",", ";", "\t", "\n", "\r", '"', "'", "_", " ", "\u200b", "\u200d", "\ufeff", "\u00a0",
                          "\u0301", "\x00", "\x1b", "e", "é", "É", "İ", "ß", "{", "}", "[", "]", "\\"])
TEXT = st.lists(st.one_of(TRICKY, st.characters(exclude_categories=("Cs",))), max_size=60).map("".join)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12)


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: (size, mtime in ns); to prove nothing outside an output changed."""
    return {p.relative_to(folder).as_posix(): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


# -- tags --------------------------------------------------------------------------------


@given(TEXT)
def test_parse_tags_gives_canonical_unique_tags(text):
    tags = parse_tags(text)
    assert len(tags) == len(set(tags))
    for tag in tags:
        assert tag and "," not in tag and tag == normalize_tag(tag) and tag == tag.strip()
        assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cn", "Cs") for c in tag)
        assert unicodedata.is_normalized("NFC", tag)


@given(TEXT)
def test_nfc_and_nfd_spellings_are_one_tag(text):
    assert parse_tags(unicodedata.normalize("NFD", text)) == parse_tags(unicodedata.normalize("NFC", text))


@given(st.binary(max_size=300) | TEXT.map(lambda t: t.encode("utf-8")))
def test_any_txt_sidecar_gives_tags_or_tag_file_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("txt")
    (folder / "a.txt").write_bytes(data)
    try:
        tags, source = sidecar_tags(folder / "a.png")
    except TagFileError as e:
        assert "a.txt" in str(e)
    else:
        assert source == str(folder / "a.txt") and all(t == normalize_tag(t) for t in tags)


@given(JSON | st.binary(max_size=200))
def test_any_json_sidecar_gives_tags_or_tag_file_error(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("json")
    data = value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")
    (folder / "a.png.json").write_bytes(data)
    try:
        tags, _ = sidecar_tags(folder / "a.png")
    except TagFileError as e:
        assert "a.png.json" in str(e)
    else:
        assert all(isinstance(t, str) and t == normalize_tag(t) for t in tags)


@given(st.sampled_from([".csv", ".tsv", ".jsonl"]),
       st.lists(st.one_of(TEXT, JSON.map(json.dumps), st.just('path,tags'), st.just('"a.png","red')), max_size=8))
def test_any_tags_file_gives_a_table_or_tag_file_error(tmp_path_factory, suffix, lines):
    folder = tmp_path_factory.mktemp("table")
    path = folder / f"tags{suffix}"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        table = load_tag_table(path)
    except TagFileError as e:
        assert str(e).startswith(str(path))
    else:
        for key, tags in table.items():
            assert isinstance(key, str) and key and all(t == normalize_tag(t) for t in tags)


def test_a_huge_csv_field_is_a_tag_file_error(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("path,tags\na.png," + "x" * 200_000 + "\n", encoding="utf-8")
    with pytest.raises(TagFileError, match="line 2"):
        load_tag_table(path)


@given(st.dictionaries(st.sampled_from(["tags", "finish", "x"]), TEXT, max_size=3))
def test_any_query_string_gives_tags_or_a_400(query):
    from urllib.parse import urlencode

    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    from colorize.serve.app import read_tags

    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [],
                       "query_string": urlencode(query, errors="surrogatepass").encode("ascii")})
    try:
        tags = read_tags(request)
    except HTTPException as e:
        assert e.status_code == 400
    else:
        assert all(t == normalize_tag(t) for t in tags)


# -- manifests ---------------------------------------------------------------------------

ROW = st.fixed_dictionaries(
    {"id": st.one_of(TEXT, st.integers()), "sketch": st.sampled_from(["sketch/a.png", None, "", 3]),
     "color": st.sampled_from(["color/a.png", "color/gone.png", "", None]),
     "tags": st.one_of(st.lists(TEXT, max_size=3), TEXT, st.none(), st.lists(JSON, max_size=2)),
     "split": st.sampled_from([*SPLITS, "vall", "", None])},
    optional={"drawing": JSON, "is_flag": JSON, "width": JSON, "extractor": st.sampled_from(["xdog", "nope", None]),
              "aligned": JSON})


@given(st.lists(st.one_of(ROW.map(json.dumps), JSON.map(json.dumps), TEXT), min_size=1, max_size=6))
def test_any_manifest_loads_checked_rows_or_fails_at_load(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("manifest")
    for kind in ("sketch", "color"):
        (folder / kind).mkdir()
        Image.new("RGB", (4, 4), "white").save(folder / kind / "a.png")
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        rows = list(Manifest(folder))
    except ManifestError as e:
        assert "manifest.jsonl, line " in str(e)
    except FileNotFoundError as e:
        assert "missing" in str(e)
    else:
        for row in rows:
            assert isinstance(row["tags"], list) and all(isinstance(t, str) for t in row["tags"])
            assert row["split"] in SPLITS and (folder / row["color"]).is_file()


# -- image headers -----------------------------------------------------------------------


def _encoded(fmt: str) -> bytes:
    rgb = np.full((12, 16, 3), 255, np.uint8)
    rgb[4:8, 2:14] = (200, 30, 30)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


VALID = {fmt: _encoded(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")}


@st.composite
def damaged_images(draw) -> bytes:
    """A valid file of some format with its header bytes overwritten, cut short or padded."""
    data = bytearray(VALID[draw(st.sampled_from(sorted(VALID)))])
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, min(len(data) - 1, 64)))  # the header: sizes, modes, chunk lengths
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data) + draw(st.binary(max_size=8))


@given(damaged_images() | st.binary(max_size=64))
def test_any_image_bytes_decode_or_raise_image_error(data):
    try:
        rgb = load_rgb(data, max_pixels=1_000_000)
    except ImageError as e:
        assert str(e) and e.advice
    else:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.size > 0


@settings(max_examples=int(os.environ.get("FUZZ_RUN_EXAMPLES", "8")))
@given(st.lists(damaged_images() | st.binary(max_size=32), min_size=1, max_size=3),
       st.lists(TEXT, max_size=2))
def test_a_run_over_damaged_files_touches_nothing_outside_its_output(tmp_path_factory, fuzz_colorizer, files, names):
    from colorize.infer.folder import colour_files

    root = tmp_path_factory.mktemp("run")
    src = root / "in"
    src.mkdir()
    Image.new("L", (40, 40), 255).save(src / "good.png")
    for i, data in enumerate(files):
        name = (names[i] if i < len(names) else "").replace("/", "_").replace("\x00", "")[:40]
        path = src / f"{i}{name}.png"
        try:
            path.write_bytes(data)
        except (OSError, UnicodeEncodeError):
            assume(False)
    (src / "0.txt").write_text(",".join(names), encoding="utf-8", errors="replace")
    before = tree(root)
    report = colour_files(fuzz_colorizer, [src], root / "out", progress=False, workers=1)
    assert tree(src) == {k.removeprefix("in/"): v for k, v in before.items()}
    assert {p for p in tree(root) if not p.startswith("out/")} == set(before)
    assert report.coloured >= 1 and len(report.records) == len(files) + 1
    for record in report.records:
        assert record.status in ("coloured", "failed") and "\n" not in record.source + record.message


# -- SVG import ---------------------------------------------------------------------------

REFERENCES = st.sampled_from(["#a", "#f", "#missing", "file:///etc/hostname", "/etc/hostname", "../secret.svg",
                              "http://127.0.0.1:9/x.svg", "data:image/png;base64,AAAA", "data:,", ""])
BIG = st.sampled_from(["0", "1", "3", "-1", "nan", "1e6", "1e308", "99999999999", "2.5e-9"])
ENTITIES = st.sampled_from([
    ("", ""),
    ('<!ENTITY e "red">', "&e;"),
    ('<!ENTITY e SYSTEM "file:///etc/hostname">', "&e;"),  # external: never fetched, the file fails
    ('<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY e "&b;&b;&b;&b;&b;&b;&b;&b;">', "&e;"),
    ('<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;', ""),
])
SIZES = st.sampled_from(['width="200" height="200"', 'width="200" height="200"', 'width="0" height="0"', 'width="1e12" height="5"',
                         'viewBox="0 0 100 50"', "", 'width="-5" height="10"', 'width="20mm" height="1in"',
                         'viewBox="0 0 nan 1"', 'width="200" height="200" viewBox="0 0 1e-9 1e-9"',
                         'width="1e-6" height="1e-6"'])
PRIMITIVES = st.sampled_from(['<feMorphology operator="dilate" radius="{n}"/>', '<feGaussianBlur stdDeviation="{n}"/>',
                              '<feTurbulence baseFrequency="0.05" numOctaves="{n}"/>', '<feOffset dx="{n}" dy="{n}"/>',
                              '<feImage href="{ref}"/>', '<feDropShadow stdDeviation="{n}"/>',
                              '<feConvolveMatrix order="{n}" kernelMatrix="1 0 1"/>'])


@st.composite
def hostile_svgs(draw) -> str:
    """Clip art with what breaks renderers: deep nesting, references near and far, filters with
    huge parameters, entities, and sizes that are zero, huge or nonsense."""
    declarations, text = draw(ENTITIES)
    primitives = "".join(draw(PRIMITIVES).format(n=draw(BIG), ref=draw(REFERENCES))
                         for _ in range(draw(st.integers(0, 3))))
    refs = "".join(f'<use xlink:href="{ref}"/><image width="50" height="50" href="{ref}"/>'
                   for ref in draw(st.lists(REFERENCES, max_size=3)))
    shape = (f'<g id="a"><circle cx="100" cy="100" r="60" fill="#d42020" stroke="#000" stroke-width="5" '
             f'filter="url(#{draw(st.sampled_from(["f", "a", "missing"]))})"/>{refs}<text x="10" y="20">{text}</text></g>')
    # Mostly drawable, so the filters and references reach the renderer; some past every limit.
    depth = draw(st.sampled_from([0, 0, 0, 1, 3, 40, 99, 101, 260, 5000]))
    chain = draw(st.sampled_from([0, 0, 0, 5, 30, 150]))  # <use> links, each naming the one before
    links = "".join(f'<g id="u{i}"><use xlink:href="#u{i - 1}"/></g>' for i in range(1, chain))
    doctype = f"<!DOCTYPE svg [{declarations}]>" if declarations else ""
    return (f'<?xml version="1.0"?>{doctype}<svg xmlns="http://www.w3.org/2000/svg" '
            f'xmlns:xlink="http://www.w3.org/1999/xlink" {draw(SIZES)}>'
            f'<style>@import url("http://127.0.0.1:9/x.css");</style><defs><filter id="f">{primitives}</filter>'
            f'<g id="u0"><rect width="9" height="9" fill="#2060e0"/></g>{links}</defs>'
            + "<g>" * depth + shape + "</g>" * depth + (f'<use xlink:href="#u{chain - 1}"/>' if chain else "")
            + "</svg>")


SVG_TIME_LIMIT = 2.0  # seconds per file: small, so a slow filter costs the suite little


@pytest.mark.timeout(300)
@settings(max_examples=int(os.environ.get("FUZZ_SVG_EXAMPLES", "30")))
@given(hostile_svgs())
def test_any_svg_imports_or_gets_one_report_line_within_the_time_limit(tmp_path_factory, text):
    import time

    from colorize.data.importer import REPORT_NAME, import_folder

    root = tmp_path_factory.mktemp("svg")
    src = root / "src"
    src.mkdir()
    (src / "art.svg").write_text(text, encoding="utf-8")
    (root / "secret.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>', encoding="utf-8")
    before = tree(root)
    started = time.monotonic()
    report = import_folder(src, root / "out", size=32, workers=1, progress=False, time_limit=SVG_TIME_LIMIT)
    assert time.monotonic() - started < SVG_TIME_LIMIT + 20  # one file: its limit, plus starting a worker
    rows = list(Manifest(root / "out"))
    lines = (root / "out" / REPORT_NAME).read_text(encoding="utf-8").splitlines()
    assert all(line.startswith("art.svg: ") for line in lines), lines
    if rows:
        assert report.imported == 1 and [row["original"] for row in rows] == ["art.svg"]
        assert all("skipped" not in line for line in lines), lines
    else:
        assert report.failed + report.filtered == 1 and len(lines) == 1 and lines[0].endswith(
            ("skipped", "are wanted")), lines
    assert {p for p in tree(root) if not p.startswith("out/")} == set(before)


@pytest.fixture(scope="module")
def fuzz_colorizer(tiny_model):
    from colorize.infer.colorizer import Colorizer

    return Colorizer.from_pretrained(tiny_model, device="cpu")
