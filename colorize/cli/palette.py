"""``colorize palette``: write the palette of coloured pages, or the one the model paints a sketch in.

    $ colorize palette page1.png page2.png -o character.gpl
    $ colorize palette sketch.png --tags "woman, red hair" -o character.gpl
"""

from __future__ import annotations

from pathlib import Path

import click

from colorize.cli.options import device_option, load_colorizer, max_pixels_option, model_option
from colorize.palette import DEFAULT_MERGE_DE, FORMATS


@click.command()
@click.argument("images", metavar="IMAGE...", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=f"The palette file to write: {', '.join(s for s, f in FORMATS.items() if f.write)} "
                   "(.gpl opens in GIMP, Krita and Inkscape).")
@click.option("--tags", help='Colour each IMAGE (then a sketch) with these tags and write the palette of the '
                             'flat colours the model gives it: "woman, red hair".')
@click.option("--count", type=click.IntRange(1, 256),
              help="Exactly this many colours (fewer if the pictures have fewer). Default: merge by --merge-de.")
@click.option("--merge-de", type=click.FloatRange(0.1, 100), default=DEFAULT_MERGE_DE, show_default=True,
              help="Colours nearer than this (CIEDE2000) become one palette entry.")
@click.option("--min-share", type=click.FloatRange(0, 1), default=0.005, show_default=True,
              help="Leave out colours with less than this share of the pixels (the blends along edges).")
@click.option("--keep-paper", is_flag=True,
              help="Without --tags: keep the white paper around the drawing (near-white areas touching the border) "
                   "as a colour.")
@click.option("--keep-lines", is_flag=True,
              help="Keep the lines (thin near-black strokes) of a coloured page as a colour.")
@model_option()
@device_option()
@max_pixels_option()
@click.option("--overwrite", is_flag=True, help="Replace the palette file if it exists.")
def palette(images, out, tags, count, merge_de, min_share, keep_paper, keep_lines, model, device, max_pixels, overwrite) -> None:
    """Write the palette of IMAGE... to a palette file.

    Without --tags, each IMAGE is a coloured page or coloured flats: its colours are
    clustered in CIELAB, and each palette entry's share of the pixels is written as a
    comment. With --tags, each IMAGE is a sketch: the model colours it (flat finish) and
    the palette holds the colours of its regions, weighted by their area.

    Use the file with `colorize run --palette FILE` or `--consistent --palette FILE`.
    """
    import numpy as np

    from colorize.data.images import ImageError, load_rgb
    from colorize.finish import painted_colours
    from colorize.palette import cluster, page_pixels, write_palette

    if out.suffix.lower() not in FORMATS or FORMATS[out.suffix.lower()].write is None:
        raise click.ClickException(f"-o {out}: write a palette as one of "
                                   f"{', '.join(s for s, f in FORMATS.items() if f.write)}.")
    if out.exists() and not overwrite:
        raise click.ClickException(f"{out} exists; pass --overwrite to replace it.")
    colorizer = load_colorizer(model, device) if tags is not None else None
    pixels, weights = [], []
    for path in images:
        try:
            if colorizer is None:
                found = page_pixels(load_rgb(path, max_pixels=max_pixels), keep_paper=keep_paper,
                                    keep_lines=keep_lines)
                pixels.append(found)
                weights.append(np.ones(len(found)))
            else:
                layers = colorizer.layers(colorizer.load(path, max_pixels=max_pixels), tags)
                colours, area = painted_colours(layers)
                pixels.append(colours)
                weights.append(area.astype(np.float64))
        except ImageError as e:
            raise click.ClickException(f"{path}: {e}. {e.advice}") from None
    # a sketch's flats are exact colours: the palette keeps the largest of each near group
    found = cluster(np.concatenate(pixels), np.concatenate(weights), count=count, merge_de=merge_de,
                    min_share=min_share, name=tags or ", ".join(p.stem for p in images), exact=tags is not None)
    if not found.swatches:
        raise click.ClickException(f"{', '.join(map(str, images))}: no colours to make a palette of (only white "
                                   f"paper{'' if keep_paper else '; --keep-paper keeps it'}).")
    write_palette(found, out, overwrite=overwrite)
    listed = ", ".join(f"{s.hex} {s.share:.0%}" for s in found.swatches[:8])
    click.echo(f"Wrote {out}: {len(found)} colour(s): {listed}{', ...' if len(found) > 8 else ''}")
