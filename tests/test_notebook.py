"""notebooks/tag_ablation.ipynb runs top to bottom on the results of a tiny real run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
from click.testing import CliRunner
from nbclient import NotebookClient

from colorize.cli import main

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "tag_ablation.ipynb"


def test_tag_ablation_notebook_executes(tiny_model, dataset, tmp_path, monkeypatch):
    results = tmp_path / "results"
    runner = CliRunner()
    trained = runner.invoke(main, ["ablate-train", "--data", str(dataset), "-o", str(results / "ablation-train"),
                                   "--modes", "none,channel,film,tokens", "--steps", "1", "--size", "32", "--ngf", "8",
                                   "--ndf", "8", "--batch-size", "2", "--eval-split", "train"])
    assert trained.exit_code == 0, trained.output
    ablated = runner.invoke(main, ["ablate", str(tiny_model), "--data", str(dataset), "--split", "train",
                                   "-o", str(results / "ablation"), "--maps", "1"])
    assert ablated.exit_code == 0, ablated.output
    evaluated = runner.invoke(main, ["evaluate", str(tiny_model), "--data", str(dataset), "--split", "train",
                                     "-o", str(results / "hands" / "tiny")])
    assert evaluated.exit_code == 0, evaluated.output
    study = subprocess.run([sys.executable, str(ROOT / "docs" / "results" / "monochrome" / "study.py"),
                            "--model", f"tiny={tiny_model}", "--data", str(dataset), "--split", "train",
                            "--figure-rows", "2", "-o", str(results / "monochrome")],
                           capture_output=True, text=True, timeout=300)
    assert study.returncode == 0, study.stderr

    monkeypatch.setenv("COLORIZE_RESULTS", str(results))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "budget: 1 steps" in text and "| film |" in text
    assert "| tiny | all val" in text, "the monochrome study's table"
    assert f"| {dataset.name} | tiny |" in text, "the per-hand table"
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 7  # the plots and pictures were drawn


def test_the_committed_notebook_shows_its_results():
    """On the web the committed copy is what a reader sees: every code cell has its outputs
    (executed on docs/results/), none of them an error, and its plots are there."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.get("outputs") for cell in code), \
        [cell.source.splitlines()[0] for cell in code if not cell.get("outputs")]
    outputs = [o for cell in code for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 7
    text = "".join(o.get("text", "") for o in outputs)
    assert "twemoji" in text and "monochrome" in text, "the per-hand and monochrome sections ran on the real results"
