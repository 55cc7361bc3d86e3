"""The ``colorize`` command: a click group with one module per subcommand group.

The CLI only parses, validates and calls the library; no tensors live here.

    $ colorize --help
"""

from __future__ import annotations

import click

import colorize
from colorize.cli.data import data
from colorize.cli.train import train

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(colorize.__version__, "-V", "--version", prog_name="colorize")
def main() -> None:
    """Colour line art from text tags.

    colorize learns which colours belong where from pairs of line art and colour
    images with tags ("red hair", "green heart"), so that the tags decide colours
    the drawing alone cannot.

    \b
    Start with the built-in dataset:
      colorize data openmoji            build line/colour/tag pairs from OpenMoji
      colorize data show data/openmoji  look at them as a contact sheet
      colorize train --data data/openmoji   train a model (TensorBoard logs in checkpoints/)
    """


main.add_command(data)
main.add_command(train)
