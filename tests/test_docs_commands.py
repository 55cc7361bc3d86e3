"""Every `colorize ...` command that README.md and docs/*.md show in a fenced block still
exists: its subcommand answers --help, and each option it uses is one of that subcommand's."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from colorize.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def shown_commands(text: str) -> list[str]:
    """The `colorize ...` commands in the fenced blocks of one Markdown page, one string each:
    continued lines joined, a leading `$ ` and anything before `colorize` in a `&&` chain dropped."""
    commands = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                part = part.strip().removeprefix("$ ").strip()
                if part.startswith("colorize "):
                    commands.append(part)
    return commands


def resolve(words: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """``(subcommand path, its click command, the option names used)`` of one command's words."""
    command: click.Command = main
    path: list[str] = []
    rest = list(words)
    while isinstance(command, click.Group) and rest:
        sub = command.get_command(click.Context(command), rest[0])  # the lazy group loads it here
        if sub is None:
            break
        path.append(rest.pop(0))
        command = sub
    options = [w.split("=", 1)[0] for w in rest if w.startswith("-") and w != "-" and not re.fullmatch(r"-\d.*", w)]
    return path, command, options


COMMANDS = [(page.relative_to(ROOT).as_posix(), command) for page in PAGES
            for command in shown_commands(page.read_text(encoding="utf-8"))]


def test_the_pages_show_commands_to_check():
    pages = {page for page, _ in COMMANDS}
    assert "README.md" in pages and len(pages) >= 3 and len(COMMANDS) >= 30, (pages, len(COMMANDS))


def test_shown_commands_reads_fences_chains_prompts_and_continuations():
    text = ("Run `colorize nothing` inline.\n```bash\npip install -e . && colorize run a -o b\n$ colorize serve \\\n"
            "  --port 1\n# colorize commented\n```\n```\ncolorize train --steps 1  # trailing\n```\n")
    assert shown_commands(text) == ["colorize run a -o b", "colorize serve    --port 1", "colorize train --steps 1  # trailing"]
    path, command, options = resolve(shlex.split("run a -o b --tags=x --palette-max-de 5 -", comments=True))
    assert path == ["run"] and command.name == "run" and options == ["-o", "--tags", "--palette-max-de"]


@pytest.mark.parametrize(("page", "command"), COMMANDS, ids=[f"{p}: {c}" for p, c in COMMANDS])
def test_a_shown_command_and_its_options_exist(page, command):
    words = shlex.split(command, comments=True)[1:]
    path, found, options = resolve(words)
    assert path, f"{page}: `{command}` names no colorize subcommand"
    help_run = CliRunner().invoke(main, [*path, "--help"])
    assert help_run.exit_code == 0, f"{page}: `colorize {' '.join(path)} --help` failed: {help_run.output}"
    known = {name for param in found.params for name in (*param.opts, *param.secondary_opts)} | {"--help", "-h"}
    unknown = [o for o in options if o not in known]
    assert not unknown, f"{page}: `{command}` uses {', '.join(unknown)}, which `colorize {' '.join(path)}` lacks"
    for option in options:  # each one as its --help shows it
        assert option in help_run.output, f"{page}: `colorize {' '.join(path)} --help` does not show {option}"
