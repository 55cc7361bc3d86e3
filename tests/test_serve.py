"""``colorize serve``: the page in a real browser (Debian's chromium through Playwright), and its API.

The browser tests need ``chromium`` on PATH (``.ci/run`` installs Debian's package); without
it they are skipped with the reason, except under CI, where they fail. A screenshot of the
page goes to ``$COLORIZE_TEST_ARTIFACTS/serve.png`` (a temp folder unless set; pytest prints it).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import socket
import struct
import sys
import time
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize.cli import main

SKETCH = "1F469-1F3FB-200D-1F9B0.png"  # woman: light skin tone, red hair
MAX_UPLOAD = 1 << 20  # a small limit, so the test's "huge" upload stays small


@pytest.fixture(scope="module")
def tag_model(tmp_path_factory, tiny_model) -> Path:
    """The tiny model with random FiLM heads: untrained FiLM heads are zero, so tags would change nothing.

    The tag MLP's weights are widened too (std 0.3, not ~0.05), so that tag sets as close as
    "woman, light skin tone" and "woman, dark skin tone" give clearly different colours.
    """
    import torch

    from colorize.models.io import load_pretrained, save_pretrained

    config, state, vectors = load_pretrained(tiny_model)
    generator = torch.Generator().manual_seed(0)
    for name, tensor in state.items():
        if name.startswith("cond.cond_mlp.") and name.endswith("weight"):
            tensor.normal_(0.0, 0.3, generator=generator)
        if name.startswith("cond.film.") and name.endswith("to_gamma_beta.weight"):
            tensor.normal_(0.0, 1.0, generator=generator)
    return save_pretrained(tmp_path_factory.mktemp("tag-model"), state, config["model"], config["vocab"], vectors,
                           config["encoder"], step=config["step"])


@pytest.fixture(scope="module")
def server(tag_model):
    """The app on a free loopback port, for the whole module."""
    from colorize.infer.colorizer import Colorizer
    from colorize.serve.app import create_app, serving

    app = create_app(Colorizer.from_pretrained(tag_model, device="cpu"), max_upload_bytes=MAX_UPLOAD)
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, driven by Playwright (its own browser download is not used)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        reason = "Debian's chromium is not installed (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: chromium's sandbox refuses to run as root, which CI is
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A fresh page on the app, with every request and console error it makes recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page.requests, page.errors = [], []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.goto(server)
    page.wait_for_selector("body[data-state=ready]")
    yield page
    page.close()


def artifacts_dir() -> Path:
    folder = Path(os.environ["COLORIZE_TEST_ARTIFACTS"])  # conftest makes it a temp folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def colour_with(page, tags: str, tmp_path: Path) -> np.ndarray:
    """Type ``tags``, wait for the colouring made with them, and download it."""
    page.fill("#tags", tags)
    page.wait_for_selector(f"body[data-state=done][data-tags={json.dumps(tags)}]", timeout=30_000)
    with page.expect_download() as download:
        page.click("#download")
    path = tmp_path / f"{len(list(tmp_path.iterdir()))}.png"
    download.value.save_as(path)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def test_page_colours_an_upload_and_the_tags_change_the_colours(page, server, dataset, tmp_path):
    page.set_input_files("#upload", dataset / "sketch" / SKETCH)
    light = colour_with(page, "woman, light skin tone", tmp_path)
    dark = colour_with(page, "woman, dark skin tone", tmp_path)

    assert light.shape == dark.shape == (64, 64, 3), "the result has the sketch's own size"
    assert np.abs(light - dark).mean() > 5.0, "different tags must give different colours"
    assert page.get_attribute("#without-tags", "src").startswith("blob:")
    # the swap row: one image per skin tone in this model's vocabulary, captioned by value
    assert page.locator("#group").input_value() == "* skin tone"
    captions = page.locator("#swap-row figcaption").all_text_contents()
    assert captions == ["light", "dark"]
    assert page.locator("#error").is_hidden()

    page.screenshot(path=tmp_path / "serve.png", full_page=True)
    shutil.copy(tmp_path / "serve.png", artifacts_dir() / "serve.png")
    origin = server + "/"
    assert all(url.startswith((origin, "blob:", "data:")) for url in page.requests), \
        f"the page fetched from elsewhere: {[u for u in page.requests if not u.startswith(origin)]}"
    assert page.errors == [], "no script errors and no Content-Security-Policy violations"


def test_page_shows_flat_and_soft_side_by_side_and_downloads_the_layers(page, dataset, tmp_path):
    """Both finishes of one colouring side by side; the .ora download holds the three layers
    at the sketch's size (read with zipfile + XML, not with the writer)."""
    import xml.etree.ElementTree as ET
    import zipfile

    page.set_input_files("#upload", dataset / "sketch" / SKETCH)
    colour_with(page, "woman, dark skin tone", tmp_path)
    flat, soft = page.locator("#flat"), page.locator("#soft")
    assert flat.get_attribute("src").startswith("blob:") and soft.get_attribute("src").startswith("data:image/png")
    assert flat.evaluate("img => img.naturalWidth") == soft.evaluate("img => img.naturalWidth") == 64
    one, two = flat.bounding_box(), soft.bounding_box()
    assert abs(one["y"] - two["y"]) < 1 and two["x"] > one["x"] + one["width"] - 1, "side by side"
    for kind in ("ora", "psd"):
        with page.expect_download() as download:
            page.click(f"#download-{kind}")
        path = tmp_path / f"layers.{kind}"
        download.value.save_as(path)
        assert download.value.suggested_filename == f"colorized.{kind}"
    with zipfile.ZipFile(tmp_path / "layers.ora") as ora:
        stack = ET.fromstring(ora.read("stack.xml"))
        assert [layer.get("name") for layer in stack.findall(".//layer")] == ["lines", "flats", "soft colour"]
        assert (stack.get("w"), stack.get("h")) == ("64", "64")
    assert (tmp_path / "layers.psd").read_bytes()[:4] == b"8BPS"
    assert page.locator("#error").is_hidden() and page.errors == []


def test_page_takes_a_palette_shows_its_swatches_and_offers_the_colouring_palette(page, dataset, tmp_path):
    from colorize.palette import read_palette

    (tmp_path / "coat.hex").write_text("#1e5ac8 coat\n#fadcbc skin\n")
    page.set_input_files("#upload", dataset / "sketch" / SKETCH)
    page.set_input_files("#palette-file", tmp_path / "coat.hex")
    page.wait_for_selector("#palette-drop .swatch")
    swatches = page.locator("#palette-drop .swatch")
    assert [swatches.nth(i).get_attribute("data-hex") for i in range(swatches.count())] == ["#1e5ac8", "#fadcbc"]
    assert swatches.first.get_attribute("title") == "coat #1e5ac8"
    flat = colour_with(page, "woman, dark skin tone", tmp_path)
    sent = [u for u in page.requests if "/api/finishes?" in u and "tags=woman%2C+dark+skin+tone" in u]
    assert sent and "palette=%231e5ac8+coat%0A%23fadcbc+skin" in sent[-1], "the colouring carries the palette"
    with page.expect_download() as download:
        page.click("#download-palette")
    download.value.save_as(tmp_path / "colouring.gpl")
    assert download.value.suggested_filename == "colorized.gpl"
    colours = {s.rgb for s in read_palette(tmp_path / "colouring.gpl").swatches}
    lines = np.asarray(Image.open(dataset / "sketch" / SKETCH).convert("RGB"))
    in_flat = {tuple(int(v) for v in c) for c in flat[lines.min(axis=-1) == 255].tolist()}
    assert colours and colours <= in_flat
    assert page.errors == []
    (tmp_path / "bad.gpl").write_text("GIMP Palette\n1 2\n")
    page.set_input_files("#palette-file", tmp_path / "bad.gpl")
    page.wait_for_selector("#error:not([hidden])")
    assert "bad.gpl, line 2:" in page.locator("#error").text_content()
    page.click("#palette-clear")
    assert page.locator("#palette-drop .swatch").count() == 0


def test_tags_complete_from_the_vocabulary(page):
    page.fill("#tags", "woman, dar")
    values = page.locator("#tag-options option").evaluate_all("options => options.map(o => o.value)")
    assert "woman, dark skin tone" in values
    assert all(v.startswith("woman, ") for v in values)


def test_a_drawing_is_coloured(page):
    box = page.locator("#sketch").bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 60)
    page.mouse.down()
    for step in range(1, 20):
        page.mouse.move(box["x"] + 60 + 15 * step, box["y"] + 60 + 10 * step)
    page.mouse.up()
    page.wait_for_selector("body[data-state=done]", timeout=30_000)
    assert page.get_attribute("#flat", "src").startswith("blob:")
    assert page.locator("#swap-row img").count() >= 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` in 57 bytes: the front of a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b"")


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buf, "PNG")
    return buf.getvalue()


BAD_UPLOADS = {
    "not-an-image": (b"this is a text file, not a drawing\n" * 20, "not an image"),
    "corrupt": (_png(40, 30)[:60], "corrupt or truncated"),
    "empty": (b"", "empty"),
    "too-many-bytes": (b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD + 10), "over this server's 1.0 MB limit"),
    "too-many-pixels": (_png_header(5000, 5000), "5000x5000 is over the 4,000,000-pixel limit"),
    "too-small": (_png(2, 2), "too small"),
}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_a_bad_upload_gets_a_clear_message_and_the_server_goes_on(page, name, dataset, tmp_path):
    data, message = BAD_UPLOADS[name]
    page.set_input_files("#upload", {"name": f"{name}.png", "mimeType": "image/png", "buffer": data})
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert message in page.locator("#error").text_content()
    page.set_input_files("#upload", dataset / "sketch" / SKETCH)
    page.wait_for_selector("body[data-state=done]", timeout=30_000)
    assert page.locator("#error").is_hidden()


# -- the API, over plain HTTP ----------------------------------------------------------------------


def request(url: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """A raw HTTP request: the path is sent exactly as written (no client-side normalising)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest(method, path, skip_host=bool(headers and "Host" in headers))
    for key, value in {"Content-Length": str(len(body or b"")), **(headers or {})}.items():
        connection.putheader(key, value)
    connection.endheaders(body)
    response = connection.getresponse()
    result = response.status, dict(response.getheaders()), response.read()
    connection.close()
    return result


def test_api_colours_bytes_into_a_png(server, dataset):
    status, headers, body = request(server, "POST", "/api/colorize?tags=woman,+dark+skin+tone",
                                    (dataset / "sketch" / SKETCH).read_bytes())
    assert status == 200 and headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(body)) as im:
        assert im.size == (64, 64)


def test_api_gives_both_finishes_from_one_request_and_the_layered_files(server, dataset):
    import base64
    import json as json_module

    sketch = (dataset / "sketch" / SKETCH).read_bytes()
    status, _, body = request(server, "POST", "/api/finishes?tags=woman,+dark+skin+tone", sketch)
    assert status == 200
    answer = json_module.loads(body)
    flat = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["flat"]))).convert("RGB"))
    soft = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["soft"]))).convert("RGB"))
    assert flat.shape == soft.shape == (64, 64, 3) and answer["tags"] == ["woman", "dark skin tone"]
    status, _, single = request(server, "POST", "/api/colorize?tags=woman,+dark+skin+tone&finish=soft", sketch)
    assert status == 200 and np.array_equal(np.asarray(Image.open(io.BytesIO(single)).convert("RGB")), soft)
    status, headers, psd = request(server, "POST", "/api/layers?tags=woman&format=psd", sketch)
    assert status == 200 and psd[:4] == b"8BPS" and "colorized.psd" in headers["content-disposition"]
    status, _, body = request(server, "POST", "/api/layers?format=tiff", sketch)
    assert status == 400 and b"ora, psd" in body
    status, _, body = request(server, "POST", "/api/colorize?finish=glossy", sketch)
    assert status == 400 and b"flat, soft" in body


def test_api_reads_a_palette_file_and_every_colouring_takes_it(server, dataset):
    """/api/palette reads the file with the palette module (names, file and line in errors);
    a colouring sent with the palette's hex list snaps its flat regions to it (here one colour
    and the widest distance: every painted region takes it), and /api/finishes gives the
    palette of the colouring it made, whose colours are the flat image's."""
    import base64
    from urllib.parse import quote

    from colorize.palette import parse_palette

    sketch = (dataset / "sketch" / SKETCH).read_bytes()
    status, _, body = request(server, "POST", "/api/palette?name=coat.gpl", b"GIMP Palette\n30 90 200\tcoat\n")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["colours"] == [{"hex": "#1e5ac8", "name": "coat"}] and "one colour (coat)" in answer["note"]
    hex_list = quote(answer["hex"])
    status, _, body = request(server, "POST", f"/api/finishes?tags=woman&palette={hex_list}&palette_max_de=100", sketch)
    assert status == 200, body
    answer = json.loads(body)
    flat = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["flat"]))).convert("RGB"))
    lines = np.asarray(Image.open(dataset / "sketch" / SKETCH).convert("RGB"))
    off_lines = {tuple(c) for c in flat[lines.min(axis=-1) == 255].tolist()}
    assert off_lines <= {(30, 90, 200), (255, 255, 255)} and (30, 90, 200) in off_lines
    assert [s.rgb for s in parse_palette(answer["palette"], ".gpl").swatches] == [(30, 90, 200)]
    status, _, body = request(server, "POST", f"/api/colorize?tags=woman&palette={hex_list}&palette_max_de=100", sketch)
    assert status == 200 and np.array_equal(np.asarray(Image.open(io.BytesIO(body)).convert("RGB")), flat)
    status, _, body = request(server, "POST", "/api/palette?name=coat.gpl", b"GIMP Palette\n30 90\n")
    assert status == 400 and "coat.gpl, line 2:" in json.loads(body)["error"]
    status, _, body = request(server, "POST", "/api/colorize?palette=zz", sketch)
    assert status == 400 and "palette, line 1:" in json.loads(body)["error"]


def test_api_refuses_an_empty_body_and_an_oversized_declared_length(server):
    status, _, body = request(server, "POST", "/api/colorize?tags=a")
    assert status == 400 and b"empty" in body
    status, _, body = request(server, "POST", "/api/colorize", b"x", headers={"Content-Length": str(10 * MAX_UPLOAD)})
    assert status == 413 and b"limit" in body


def test_api_swap_needs_a_known_group(server):
    status, _, body = request(server, "POST", "/api/swap?group=*+spaceship", _png(40, 30))
    assert status == 400 and b"/api/info" in body


# -- the limits: pixels, swap previews, jobs at once ---------------------------------------------


HEAVY = ["/api/colorize?tags=woman", "/api/finishes?tags=woman", "/api/layers?format=psd",
         "/api/swap?tags=woman&group=*+skin+tone"]


@pytest.mark.parametrize("path", HEAVY)
def test_an_image_over_the_pixel_limit_is_refused_from_its_header(server, path):
    """413, naming the limit and the flag that raises it; the 57-byte header is all the server reads."""
    status, _, body = request(server, "POST", path, _png_header(2001, 2000))
    assert status == 413, body
    message = json.loads(body)["error"]
    assert "2001x2000 is over the 4,000,000-pixel limit (4 megapixels)" in message and "--max-megapixels" in message


@pytest.fixture(scope="module")
def tight_app(tag_model):
    """The app with tiny limits: one job at a time, no queue, 1,200-pixel swap previews; (url, its gate)."""
    from colorize.infer.colorizer import Colorizer
    from colorize.serve.app import create_app, serving

    app = create_app(Colorizer.from_pretrained(tag_model, device="cpu"), swap_pixels=1200, jobs=1, queue=0)
    with serving(app) as url:
        yield url, app.state.gate


@pytest.fixture(scope="module")
def tight(tight_app):
    return tight_app[0]


def test_a_swap_colours_a_preview_of_a_large_sketch(tight):
    import base64

    status, _, body = request(tight, "POST", "/api/swap?tags=woman&group=*+skin+tone", _png(80, 40))
    assert status == 200, body
    answer = json.loads(body)
    sizes = {Image.open(io.BytesIO(base64.b64decode(image["png"]))).size for image in answer["images"]}
    assert sizes == {(48, 24)}, "3,200 pixels scaled to at most 1,200, aspect kept"
    status, _, body = request(tight, "GET", "/api/info")
    assert {k: v for k, v in json.loads(body).items() if k in ("swap_pixels", "jobs", "queue")} == \
        {"swap_pixels": 1200, "jobs": 1, "queue": 0}


def stalled_upload(url: str, declared: int = 5000, sent: int = 100) -> socket.socket:
    """A raw connection that sends a POST's headers and ``sent`` of its ``declared`` bytes, then stalls."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(f"POST /api/colorize?tags=woman HTTP/1.1\r\nHost: {parts.hostname}\r\n"
                 f"Content-Type: image/png\r\nContent-Length: {declared}\r\n\r\n".encode() + b"\x89PNG" * (sent // 4))
    return sock


def answer_and_close(sock: socket.socket) -> tuple[int, dict]:
    """What the server answers on ``sock`` (status, JSON body), read until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):  # the socket's 30 s timeout bounds each wait
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_past_the_jobs_and_the_queue_a_request_is_refused_with_retry_after(tight_app, dataset):
    """With one job running and no queue, the next request is refused at once (503), and the
    message says what the server is doing: one image coloured, one upload still arriving."""
    import threading

    url, gate = tight_app
    sketch = (dataset / "sketch" / SKETCH).read_bytes()
    release = threading.Event()
    slow = stalled_upload(url)  # arriving: counted apart, and holds no place
    with gate.admit():
        running = threading.Thread(target=gate.run, args=(lambda: release.wait(30),))
        running.start()
        try:
            deadline = time.monotonic() + 10
            while (gate.running, gate.uploading) != (1, 1) and time.monotonic() < deadline:
                time.sleep(0.01)
            status, headers, body = request(url, "POST", "/api/colorize?tags=woman", sketch)
        finally:
            release.set()
            running.join(10)
    assert status == 503, body
    assert int(headers["retry-after"]) >= 1
    message = json.loads(body)["error"]
    assert "1 image being coloured, 0 waiting, 1 upload arriving" in message, message
    assert "queue is full" in message and "--jobs" in message and "--queue" in message
    slow.close()
    status, _, body = request(url, "POST", "/api/colorize?tags=woman", sketch)
    assert status == 200 and body[:4] == b"\x89PNG", "the place is given back when the answer is sent"


@pytest.fixture(scope="module")
def patient(tag_model):
    """The app with the default jobs and queue, and deadlines of 2 s for heads and 3 s for bodies."""
    from colorize.infer.colorizer import Colorizer
    from colorize.serve.app import create_app, serving

    app = create_app(Colorizer.from_pretrained(tag_model, device="cpu"), upload_timeout=3)
    with serving(app, head_timeout=2) as url:
        yield url, app.state.gate


@pytest.mark.timeout(60)
def test_stalled_uploads_keep_no_one_out_and_are_answered_408(patient, dataset):
    """More stalled uploads than --jobs + --queue (which they once all held, for as long as
    they liked) and stalled heads: a normal request is still coloured at once, and each
    stalled one is answered 408, saying what arrived, and closed."""
    from colorize.serve.limits import JOBS, QUEUE

    url, gate = patient
    parts = urlsplit(url)
    bodies = [stalled_upload(url) for _ in range(JOBS + QUEUE + 6)]
    heads = []
    for _ in range(2):
        head = socket.create_connection((parts.hostname, parts.port), timeout=30)
        head.sendall(b"POST /api/colorize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        heads.append(head)
    deadline = time.monotonic() + 10
    while gate.uploading < len(bodies) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.uploading == len(bodies), "the stalled uploads have all reached the app"

    started = time.monotonic()
    status, headers, body = request(url, "POST", "/api/colorize?tags=woman,+dark+skin+tone",
                                    (dataset / "sketch" / SKETCH).read_bytes())
    assert status == 200 and headers["content-type"] == "image/png", body[:300]
    with Image.open(io.BytesIO(body)) as im:
        assert im.size == (64, 64)
    assert time.monotonic() - started < 2.5, "answered before any stalled upload timed out"

    for sock in bodies:
        status, answer = answer_and_close(sock)
        assert status == 408 and "100 of 5,000 bytes in 3 s" in answer["error"] and "--upload-timeout" in answer["error"]
    for sock in heads:
        status, answer = answer_and_close(sock)
        assert status == 408 and "did not send a request's headers within 2 s" in answer["error"]
    assert time.monotonic() - started < 10
    assert (gate.uploading, gate.arrived, gate.admitted) == (0, 0, 0), "nothing is left held"


def test_uploads_arriving_are_bounded_in_bytes_and_refused_saying_so():
    from colorize.serve.limits import Gate, Refused

    gate = Gate(jobs=1, queue=0, arriving_bytes=1000)
    with gate.receiving() as first, gate.receiving() as second:
        first(600)
        with pytest.raises(Refused) as refused:
            second(500)
        assert refused.value.status == 503 and "2 uploads arriving (1 KB so far)" in refused.value.message
        second(400)  # what fits is taken
        assert (gate.uploading, gate.arrived, gate.admitted) == (2, 1000, 0)
        with gate.admit():  # arriving uploads hold no place among the jobs
            pass
    assert (gate.uploading, gate.arrived) == (0, 0), "an upload's bytes are given back when it ends"


@pytest.mark.timeout(60)
def test_a_client_past_its_connections_makes_room_by_closing_its_longest_stalled_one(tag_model, dataset):
    """With every connection one address may hold stalled, its next request is still
    answered: the connection that has waited longest for its body is answered 408 and
    closed, the others are left alone."""
    from colorize.infer.colorizer import Colorizer
    from colorize.serve.app import create_app, serving

    app = create_app(Colorizer.from_pretrained(tag_model, device="cpu"))
    with serving(app, per_client=4) as url:
        stalled = []
        for _ in range(4):
            stalled.append(stalled_upload(url))
            time.sleep(0.05)  # in order of age
        deadline = time.monotonic() + 10
        while app.state.gate.uploading < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        status, headers, body = request(url, "POST", "/api/colorize?tags=woman",
                                        (dataset / "sketch" / SKETCH).read_bytes())
        assert status == 200 and body[:4] == b"\x89PNG", body[:300]
        status, answer = answer_and_close(stalled[0])
        assert status == 408 and "waited" in answer["error"] and "for its request's body" in answer["error"]
        for sock in stalled[1:]:
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):  # still open, still waiting for its body
                sock.recv(1)
            sock.close()


@pytest.mark.timeout(60)
def test_a_client_whose_connections_all_have_requests_in_hand_is_refused_saying_so(tag_model, dataset):
    """Connections whose request has arrived are never closed to make room: past the cap,
    the new request gets a 503 naming the cap, and the queued ones are answered."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from colorize.infer.colorizer import Colorizer
    from colorize.serve.app import create_app, serving

    app = create_app(Colorizer.from_pretrained(tag_model, device="cpu"), jobs=1, queue=2)
    gate, release = app.state.gate, threading.Event()
    sketch = (dataset / "sketch" / SKETCH).read_bytes()
    with serving(app, per_client=2) as url, ThreadPoolExecutor(2) as pool:
        with gate.admit():
            running = threading.Thread(target=gate.run, args=(lambda: release.wait(30),))
            running.start()
            try:
                queued = [pool.submit(request, url, "POST", "/api/colorize?tags=woman", sketch) for _ in range(2)]
                deadline = time.monotonic() + 10
                while gate.admitted < 3 and time.monotonic() < deadline:
                    time.sleep(0.01)
                status, headers, body = request(url, "GET", "/api/info")
            finally:
                release.set()
                running.join(10)
        assert status == 503 and headers["retry-after"] == "5", body
        message = json.loads(body)["error"]
        assert "127.0.0.1 has 2 connections open to this server, its limit for one client" in message, message
        assert [future.result()[0] for future in queued] == [200, 200]


def test_the_gate_runs_jobs_one_at_a_time_and_queues_the_rest_in_order():
    import threading

    from colorize.serve.limits import Gate, Refused

    gate = Gate(jobs=1, queue=1)
    release, order = threading.Event(), []

    def first():
        order.append("first starts")
        release.wait(10)
        order.append("first ends")

    with gate.admit(), gate.admit():
        with pytest.raises(Refused) as refused:
            with gate.admit():
                pass
        assert refused.value.status == 503 and int(refused.value.headers["Retry-After"]) >= 1
        running = threading.Thread(target=gate.run, args=(first,))
        running.start()
        while not order:
            time.sleep(0.01)
        waiting = threading.Thread(target=gate.run, args=(lambda: order.append("second"),))
        waiting.start()
        time.sleep(0.2)
        assert order == ["first starts"], "the second job waits for the slot"
        release.set()
        running.join(10), waiting.join(10)
    assert order == ["first starts", "first ends", "second"]
    assert gate.admitted == 0
    with gate.admit():
        pass


SECRET_PATHS = [
    "/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/%2e%2e%2f%2e%2e%2f__init__.py",
    "/static/../../../../../../etc/passwd", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
    "/../../../../etc/passwd", "/static/..\\app.py", "/api/colorize?image=/etc/passwd",
    "/static/../../../setup.cfg",
]


@pytest.mark.parametrize("path", SECRET_PATHS)
def test_no_request_reads_files_outside_the_static_folder(server, path):
    for method in ("GET", "POST"):
        status, _, body = request(server, method, path)
        assert status in (400, 404, 405), (method, path, status)
        assert b"root:" not in body and b"import" not in body and b"[metadata]" not in body


def test_static_files_and_security_headers(server):
    status, headers, body = request(server, "GET", "/static/app.js")
    assert status == 200 and b"/api/colorize" in body
    assert "default-src 'self'" in headers["content-security-policy"]


def test_other_host_names_are_refused(server):
    """A page on another site that rebinds its name to 127.0.0.1 cannot use the API."""
    status, _, _ = request(server, "GET", "/api/info", headers={"Host": "attacker.example"})
    assert status == 400
    status, _, _ = request(server, "GET", "/api/info", headers={"Host": "localhost"})
    assert status == 200
    status, _, _ = request(server, "GET", "/api/info", headers={"Host": "127.0.0.1.attacker.example:80"})
    assert status == 400


def test_the_ipv6_loopback_answers_at_the_url_it_prints(tag_model):
    """`serve --host ::1` prints http://[::1]:PORT; requests there carry Host: [::1]:PORT."""
    import socket

    from colorize.infer.colorizer import Colorizer
    from colorize.serve.app import create_app, host_name, serving

    assert host_name("[::1]:7860") == "::1" and host_name("localhost:80") == "localhost"
    assert host_name("127.0.0.1") == "127.0.0.1"
    if not socket.has_ipv6:
        pytest.skip("this machine has no IPv6")
    app = create_app(Colorizer.from_pretrained(tag_model, device="cpu"))
    try:
        context = serving(app, host="::1")
        url = context.__enter__()
    except OSError as e:
        pytest.skip(f"cannot bind ::1 here ({e})")
    try:
        assert url.startswith("http://[::1]:")
        parts = urlsplit(url)
        connection = http.client.HTTPConnection("::1", parts.port, timeout=30)
        connection.request("GET", "/api/info", headers={"Host": parts.netloc})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        connection.close()
    finally:
        context.__exit__(None, None, None)


# -- the command -------------------------------------------------------------------------------------


def test_serve_binds_to_localhost_by_default():
    from colorize.cli.serve import serve

    host = next(p for p in serve.params if p.name == "host")
    assert host.default == "127.0.0.1"
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "127.0.0.1" in result.output and "--max-upload-mb" in result.output
    for flag in ("--max-megapixels", "--swap-megapixels", "--jobs", "--queue", "--upload-timeout"):
        assert flag in result.output


def test_serve_says_what_to_do_with_a_missing_model(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--model", str(tmp_path)])
    assert result.exit_code != 0 and "model.safetensors" in result.output


def test_serve_says_what_to_do_with_a_port_in_use(tag_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--model", str(tag_model), "--port", str(port), "--device", "cpu"])
    assert result.exit_code != 0 and "--port" in result.output


def test_serve_without_the_web_extra_says_how_to_install_it(monkeypatch, tag_model):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now raises ImportError
    monkeypatch.delitem(sys.modules, "colorize.serve.app", raising=False)
    result = CliRunner().invoke(main, ["serve", "--model", str(tag_model)])
    assert result.exit_code != 0 and 'pip install -e ".[web]"' in result.output and "uvicorn" in result.output


def test_a_clients_unknown_tags_stay_private_and_write_no_files(server, dataset):
    """A tag outside the vocabulary is embedded for that request only: it never joins the
    vocabulary /api/info serves to every client, and the encoder's disk cache is not written."""
    import json as json_module

    cache = Path(os.environ["COLORIZE_CACHE"])
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    secret = "patient jane doe hiv positive"
    status, headers, body = request(server, "POST", "/api/colorize?tags=" + secret.replace(" ", "+") + ",+red+heart",
                                    (dataset / "sketch" / SKETCH).read_bytes())
    assert status == 200 and "patient%20jane" in headers["x-unknown-tags"]
    status, _, body = request(server, "GET", "/api/info")
    info = json_module.loads(body)
    assert secret not in info["vocab"] and "red heart" in info["vocab"]
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert after == before, "the server wrote the tag cache"


def test_private_tags_colour_like_vocabulary_tags_and_the_cache_is_bounded(tag_model):
    """The private cache gives the same colouring as embedding the tag into the vocabulary,
    and holds at most its size in tags."""
    from colorize.infer.colorizer import Colorizer

    shared = Colorizer.from_pretrained(tag_model, device="cpu")
    private = Colorizer.from_pretrained(tag_model, device="cpu").keep_tags_private(size=3)
    sketch = np.full((64, 64, 3), 255, np.uint8)
    sketch[20:44, 20:22] = 0
    for tag in ("teal scarf", "violet cape", "amber boots", "olive hat"):
        assert np.array_equal(shared.colorize(sketch, ["woman", tag]), private.colorize(sketch, ["woman", tag]))
    assert len(private.table.private) == 3 and "teal scarf" not in private.table.private
    assert "olive hat" in shared.vocab and "olive hat" not in private.vocab
