"""``colorize run``: colour sketch files, folders or glob patterns with a trained model.

    $ colorize run sketches/ -o coloured/ --tags "woman, red hair"
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from colorize.cli.options import device_option, load_colorizer, max_pixels_option, model_option
from colorize.finish import DEFAULT_FINISH, FINISHES
from colorize.palette import DEFAULT_MAX_DE


class _TqdmHandler(logging.Handler):
    """Log lines on stderr that do not tear the progress bar (stderr looked up per line, as CliRunner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def _palette(path: Path | None, finish: str, layers: bool):
    """The --palette file, read and checked (None without one); its problems as ClickExceptions."""
    from colorize.palette import PaletteError, palette_note, read_palette

    if path is None:
        return None
    if finish != "flat" and not layers:
        raise click.ClickException("--palette snaps the colours of flat regions, and --finish soft has none: "
                                   "drop --finish soft (flat is the default), or add --layers for a flats layer.")
    try:
        palette = read_palette(path)
    except PaletteError as e:
        raise click.ClickException(str(e)) from None
    note = palette_note(palette, path)
    if note:
        click.echo(f"Note: {note}.", err=True)
    return palette


@click.command()
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the results. It mirrors the input tree; every result is a PNG.")
@click.option("--tags", help='Tags for every sketch, comma-separated: "woman, red hair". '
                             "Default: each sketch's row in --tags-file, else its sidecar .txt/.json.")
@click.option("--tags-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV/TSV (path and tags columns) or JSONL mapping sketches to tags; a path is relative to "
                   "its input folder or to the tags file, or a bare file name. Unlisted files use their sidecars.")
@model_option()
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1, 1024),
              help="Sketches per forward pass.")
@device_option()
@click.option("--overwrite", is_flag=True, help="Replace existing results. Without it they are skipped.")
@click.option("--finish", "finish", default=DEFAULT_FINISH, show_default=True, type=click.Choice(FINISHES),
              help="flat: every region the lines enclose painted one colour (the median of the model's), "
                   "found at the sketch's full size; a sketch with no closed regions is finished soft, with a "
                   "message. soft: the model's colour scaled up to the sketch's size.")
@click.option("--gap", type=click.IntRange(0, 64),
              help="Regions: close gaps in the strokes up to twice this many pixels wide. "
                   "[default: 2 px per 512 px of the longer side]")
@click.option("--layers", is_flag=True,
              help="Also write a layered file (layers: soft colour, flats, lines on multiply) and "
                   "NAME.regions.png (16-bit region ids).")
@click.option("--layers-format", type=click.Choice(["ora", "psd", "both"]), default="ora", show_default=True,
              help="The layered file --layers writes: NAME.ora (OpenRaster: Krita, GIMP, MyPaint) and/or "
                   "NAME.psd (Photoshop, Krita, GIMP, Clip Studio, Affinity).")
@click.option("--layer-per-colour", is_flag=True,
              help="With --layers: the flats as a 'flats' group of one layer per colour, named by the palette "
                   "entry (--palette, --consistent) or the hex value, so a colour changes everywhere at once.")
@click.option("--palette", "palette_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A palette (.gpl from GIMP, Krita or Inkscape; or .hex/.txt, one hex colour per line, "
                   "optionally named): each flat region takes its nearest palette colour when that is within "
                   "--palette-max-de, and keeps the model's colour otherwise. -v says which regions took which.")
@click.option("--palette-max-de", type=click.FloatRange(0, 100), default=DEFAULT_MAX_DE, show_default=True,
              help="How near (CIEDE2000) a region's colour must be to a palette colour to take it (a --palette "
                   "file, or one an earlier --consistent run left in OUT).")
@click.option("--consistent", is_flag=True,
              help="Same tags, same colours on every page: the model colours every page first, each tag set's "
                   "colours are gathered into one palette (starting from --palette, if given), and every page's "
                   "flat regions take its nearest colour (a tag set with one page keeps its own). The palette is "
                   "written to OUT/palette.gpl (one per tag set when the run has several: OUT/palette-<tags>.gpl), "
                   "and a later run into OUT uses it again.")
@click.option("--side-by-side", is_flag=True,
              help="Also write NAME.side.png beside each NAME.png: the sketch and the result side by side.")
@click.option("--allow-inside-input", is_flag=True,
              help="Allow -o inside an input folder (input files are still never replaced).")
@max_pixels_option()
@click.option("--workers", type=click.IntRange(1, 64),
              help="Threads that decode and write images. [default: min(4, cores)]")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr.")
@click.option("-v", "--verbose", is_flag=True, help="Log every sketch: its result and the tags it got, and where from.")
def run(inputs, out, tags, tags_file, model, batch_size, device, overwrite, finish, gap, layers, layers_format,
        layer_per_colour, palette_file, palette_max_de, consistent, side_by_side, allow_inside_input, max_pixels,
        workers, progress, verbose) -> None:
    """Colour line art: each INPUT is a sketch file, a folder (searched recursively) or a glob pattern.

    Sketches may be any size, shape and image mode (RGBA on white, palette, 16-bit,
    greyscale, CMYK; EXIF rotation applied). Each is coloured at the model's
    resolution, scaled back to its own size, and its lines are laid over the colour
    so they stay crisp.

    \b
    Results mirror the input tree:
      folder INPUT      OUT/<path under INPUT>.png
      'art/**/*.png'    OUT/<path under art/>.png
      loose file        OUT/<name>.png
    --side-by-side adds OUT/<...>.side.png (sketch | result); --layers adds
    OUT/<...>.ora (or .psd, see --layers-format) and OUT/<...>.regions.png.

    Tags come from --tags (all sketches), else --tags-file, else each sketch's sidecar
    (sketch.txt with comma-separated tags, or gallery-dl's sketch.png.json). Tags
    the model was not trained with are embedded with its text encoder.

    Existing results are skipped unless --overwrite; OUT may not be inside an input
    folder. A file that fails is reported and the rest go on; the exit status is 1
    when any file failed. The same colours come from Python:
    Colorizer.from_pretrained(MODEL).colorize("sketch.png", "red hair").
    """
    from colorize.data.tagfiles import TagFileError
    from colorize.infer.folder import colour_files

    if layer_per_colour and not layers:
        raise click.ClickException("--layer-per-colour splits the flats of a layered file: add --layers.")
    palette = _palette(palette_file, finish, layers)
    if consistent and finish != "flat" and not layers:
        raise click.ClickException("--consistent gives flat regions one palette, and --finish soft has none: "
                                   "drop --finish soft (flat is the default).")
    logger = logging.getLogger("colorize")
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        colorizer = load_colorizer(model, device)
        try:
            report = colour_files(colorizer, inputs, out, tags=tags, tags_file=tags_file, batch_size=batch_size,
                                  overwrite=overwrite, side_by_side=side_by_side,
                                  allow_inside_input=allow_inside_input, max_pixels=max_pixels, workers=workers,
                                  progress=progress, finish=finish, gap=gap, palette=palette,
                                  palette_max_de=palette_max_de, consistent=consistent,
                                  layers=(("ora", "psd") if layers_format == "both" else (layers_format,)) if layers else (),
                                  layer_per_colour=layer_per_colour)
        except (FileNotFoundError, ValueError, TagFileError) as e:
            raise click.ClickException(str(e)) from None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)

    if report.unknown_tags:
        click.echo(f"Embedded {len(report.unknown_tags)} tag(s) outside the model's vocabulary: "
                   f"{', '.join(report.unknown_tags)}.", err=True)
    untagged = sum(r.status == "coloured" and not r.tags for r in report.records)
    if untagged:
        click.echo(f"{untagged} sketch(es) had no tags and were coloured from the drawing alone "
                   f"(-v lists them).", err=True)
    if report.skipped:
        first = next(r for r in report.records if r.status == "skipped")
        # the message names the output that exists, which need not be the PNG (an .ora, a .psd)
        click.echo(f"{report.skipped} skipped because their results exist; the first, {first.source}: "
                   f"{first.message}", err=True)
    click.echo(f"{out}: {report.coloured} coloured, {report.failed} failed, {report.skipped} skipped.")
    if report.failed:
        raise click.ClickException(f"{report.failed} file(s) failed; each is named above with what to do.")
