"""The ``colorize`` command: a click group with one module per subcommand group.

The CLI only parses, validates and calls the library; no tensors live here.

    $ colorize --help
"""

from __future__ import annotations

import importlib

import click

import colorize

__all__ = ["main"]

# name -> "module:attribute". Subcommands are imported only when used, so `colorize run`
# does not pay for importing the trainer (or Gradio) before it starts colouring.
COMMANDS = {
    "data": "colorize.cli.data:data",
    "train": "colorize.cli.train:train",
    "run": "colorize.cli.run:run",
    "serve": "colorize.cli.serve:serve",
    "evaluate": "colorize.cli.evaluate:evaluate",
    "ablate": "colorize.cli.ablate:ablate",
    "ablate-train": "colorize.cli.ablate:ablate_train",
    "export": "colorize.cli.export:export",
    "palette": "colorize.cli.palette:palette",
}


class LazyGroup(click.Group):
    """A click group whose subcommands live in :data:`COMMANDS` and load on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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

