"""notebooks/tag_ablation.ipynb runs top to bottom on the results of a tiny real run."""

from __future__ import annotations

from pathlib import Path

import nbformat
from click.testing import CliRunner
from nbclient import NotebookClient

from colorize.cli import main

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "tag_ablation.ipynb"


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

    monkeypatch.setenv("COLORIZE_RESULTS", str(results))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "budget: 1 steps" in text and "| film |" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4  # the plots and pictures were drawn
