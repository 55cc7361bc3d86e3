"""``colorize serve``: a web page to colour sketches with tags (needs the ``web`` extra).

    $ colorize serve                                   # the shipped model on http://127.0.0.1:7860
    $ colorize serve --model checkpoints/00000-openmoji --port 8000
"""

from __future__ import annotations


import click

from colorize.cli.options import device_option, load_colorizer, model_option
from colorize.serve import limits


@click.command()
@model_option()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default is reachable from this machine only; "
                   "0.0.0.0 opens the page to your network.")
@click.option("--port", type=click.IntRange(0, 65535), default=7860, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--max-upload-mb", type=click.FloatRange(0.01, 1024), default=limits.MAX_UPLOAD_BYTES / 2**20,
              show_default=True, help="Largest upload accepted, in megabytes.")
@click.option("--max-megapixels", type=click.FloatRange(0.01, 1000), default=limits.MAX_PIXELS / 1e6,
              show_default=True,
              help="Largest image accepted, in megapixels, read from its header and refused (413) before "
                   "decoding. Finishing line art costs about 40 MB and 0.25 s of one core per megapixel.")
@click.option("--swap-megapixels", type=click.FloatRange(0.01, 1000), default=limits.SWAP_PIXELS / 1e6,
              show_default=True,
              help="Tag swaps colour the sketch once per value of a tag, so a larger sketch is scaled down "
                   "to this many megapixels for them (the page shows the swap row as thumbnails).")
@click.option("--jobs", type=click.IntRange(1, 64), default=limits.JOBS, show_default=True,
              help="Heavy requests (colouring, swaps, layered files) that run at once; about one per core.")
@click.option("--queue", type=click.IntRange(0, 1000), default=limits.QUEUE, show_default=True,
              help="Heavy requests that wait for a turn, once their upload has arrived; past that a request is "
                   "refused (503, Retry-After).")
@click.option("--upload-timeout", type=click.FloatRange(1, 3600), default=limits.UPLOAD_TIMEOUT, show_default=True,
              help="Seconds an upload may take to arrive; a slower one is answered 408, so stalled clients "
                   "hold nothing that others need. The default takes 10 MB at 2.8 Mbit/s.")
@device_option()
def serve(model, host, port, max_upload_mb, max_megapixels, swap_megapixels, jobs, queue, upload_timeout,
          device) -> None:
    """Open a web page to colour sketches with tags.

    Upload or draw a sketch, type tags (completed from the model's vocabulary), and see
    the colouring with and without the tags side by side, a tag-swap row (one sketch
    under every value of one tag: skin tones, heart colours, ...) and a download link.
    The API behind it: POST an image's bytes to /api/colorize?tags=a,+b to get a PNG.
    """
    try:
        from colorize.serve.app import LOOPBACK_NAMES, bind, create_app, is_loopback, run
    except ImportError as e:
        raise click.ClickException(f"colorize serve needs the web extra ({e.name} is missing). "
                                   f"Install it with: pip install -e \".[web]\"") from None
    colorizer = load_colorizer(model, device)
    try:
        sock = bind(host, port)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port} ({e.strerror or e}). "
                                   f"Pick another --port, or stop what is using it.") from None
    local = is_loopback(host)
    app = create_app(colorizer, max_upload_bytes=int(max_upload_mb * 2**20), max_pixels=int(max_megapixels * 1e6),
                     swap_pixels=int(swap_megapixels * 1e6), jobs=jobs, queue=queue, upload_timeout=upload_timeout,
                     allowed_hosts=LOOPBACK_NAMES if local else None)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"colorize: model {colorizer.source} ({colorizer.size} px, {len(colorizer.vocab)} tags)")
    if not local:
        click.echo(f"colorize: listening on {host}, so other machines can reach this page.", err=True)
    click.echo(f"colorize: open http://{shown}:{sock.getsockname()[1]}  (Ctrl-C stops)")
    run(app, sock)
