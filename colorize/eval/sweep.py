"""``colorize ablate-train``: the same training budget under each conditioning mode, compared.

One run per mode (``none``, ``channel``, ``film``) and per text encoder, each in its own
folder ``OUT/runs/MODE[-ENCODER]``, all from one config that differs only in that one
value. Each run is evaluated on the val split, then one table (``comparison.md``,
``comparison.csv``, ``comparison.json``) and one plot (``comparison.png``) compare them.

Re-running the command resumes: a finished run (its last checkpoint at the step budget
and its ``evaluation.json`` written) is skipped, an interrupted one continues from its
last checkpoint.

    sweep(load_config("cpu", {"steps": 3000}), "ablation-train/", modes=["none", "channel", "film"])
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
from pathlib import Path

from colorize.config import TrainConfig
from colorize.eval.evaluate import METRICS, evaluate, write_report
from colorize.fileio import atomic_write_text

__all__ = ["run_name", "sweep", "write_comparison"]


def run_name(mode: str, encoder: str, several_encoders: bool) -> str:
    """``film`` or, when encoders are compared too, ``film-all-MiniLM-L6-v2``."""
    if not several_encoders:
        return mode
    return f"{mode}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', Path(encoder).name or encoder)}"


def _finished_step(run: Path) -> int:
    found = sorted(run.glob("checkpoints/step-*.pt"))
    return int(found[-1].stem.split("-")[1]) if found else 0


def sweep(config: TrainConfig, out: str | os.PathLike, modes: list[str], encoders: list[str] | None = None,
          eval_split: str = "val", eval_limit: int | None = None, progress: bool = True, log=print) -> dict:
    """Train and evaluate every (mode, encoder) under ``config``'s budget; write the comparison."""
    from colorize.infer.colorizer import Colorizer
    from colorize.train.trainer import Trainer

    from colorize.data.manifest import Manifest

    if len(Manifest(config.data, split=eval_split)) == 0:  # say so before hours of training, not after
        raise ValueError(f"{config.data}: split {eval_split!r} is empty; nothing to evaluate the runs on. "
                         f"Pick another with --eval-split.")
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    encoders = encoders or [config.encoder]
    results = {}
    for encoder in encoders:
        for mode in modes:
            name = run_name(mode, encoder, len(encoders) > 1)
            run = out / "runs" / name
            evaluation = run / "evaluation.json"
            done = _finished_step(run)
            if done >= config.steps and evaluation.is_file():
                log(f"{name}: finished earlier, skipped ({evaluation})")
                results[name] = json.loads(evaluation.read_text(encoding="utf-8"))
                continue
            if done > 0:
                log(f"{name}: resuming from step {done}")
                trainer = Trainer.resume(run, steps=config.steps, progress=progress)
            else:
                cfg = copy.deepcopy(config)
                cfg.model.conditioning, cfg.encoder, cfg.name = mode, encoder, name
                cfg.runs_dir = str(out / "runs")
                run.mkdir(parents=True, exist_ok=True)
                log(f"{name}: training {cfg.steps} steps")
                trainer = Trainer(cfg, run_dir=run, progress=progress)
            trainer.train()
            if trainer.step < config.steps:
                raise InterruptedError(f"{name}: stopped at step {trainer.step} of {config.steps}. "
                                       f"Run the same command again to resume.")
            colorizer = Colorizer.from_pretrained(run / "export", device=str(trainer.device))
            result = evaluate(colorizer, config.data, split=eval_split, limit=eval_limit, progress=progress)
            result |= {"run": name, "conditioning": mode, "encoder": encoder, "steps": config.steps,
                       "batch_size": config.batch_size}
            write_report(result, run)
            results[name] = result
    write_comparison(results, out, config)
    return results


def _summary(result: dict) -> dict:
    row = {"run": result["run"], "conditioning": result["conditioning"], "encoder": result["encoder"],
           "steps": result["steps"]}
    for condition in ("tags", "no_tags"):
        part = result["conditions"].get(condition, {}).get("all")
        if part is None:
            continue
        suffix = "" if condition == "tags" else "_no_tags"
        row |= {f"{m}{suffix}": part[m] for m in METRICS}
        row[f"variant_accuracy{suffix}"] = part["variant"]["accuracy"]
        row["chance"] = part["variant"]["chance"]
        row["ceiling"] = part["variant"].get("ceiling")
    return row


def write_comparison(results: dict, out: Path, config: TrainConfig) -> None:
    """``comparison.{json,csv,md,png}`` from the runs' evaluations."""
    rows = [_summary(r) for r in results.values()]
    atomic_write_text(out / "comparison.json", json.dumps({"config": config.to_dict(), "runs": rows}, indent=2) + "\n")
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "comparison.csv", buf.getvalue())

    m = config.model
    lines = [f"Same budget for every run: {config.steps} steps of batch {config.batch_size} at {m.size} px, "
             f"ngf {m.ngf}, ndf {m.ndf}, data `{config.data}`. Evaluated on the val split.", "",
             "| run | variant acc. | no tags | chance | ceiling | ΔE2000 ↓ | L1 ↓ | PSNR dB ↑ | SSIM ↑ |",
             "|---|---|---|---|---|---|---|---|---|"]

    def f(value, spec):
        return "-" if value is None else format(value, spec)

    for r in rows:
        lines.append(f"| {r['run']} | {f(r.get('variant_accuracy'), '.3f')} | {f(r.get('variant_accuracy_no_tags'), '.3f')} | "
                     f"{f(r.get('chance'), '.3f')} | {f(r.get('ceiling'), '.3f')} | {f(r.get('delta_e'), '.2f')} | {f(r.get('l1'), '.4f')} | "
                     f"{f(r.get('psnr'), '.2f')} | {f(r.get('ssim'), '.4f')} |")
    atomic_write_text(out / "comparison.md", "\n".join(lines) + "\n")
    _plot(rows, out / "comparison.png")


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    names = [r["run"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    x = range(len(rows))
    axes[0].bar([i - 0.2 for i in x], [r.get("variant_accuracy") or 0 for r in rows], 0.4, label="with tags")
    axes[0].bar([i + 0.2 for i in x], [r.get("variant_accuracy_no_tags") or 0 for r in rows], 0.4, label="no tags")
    chance = [r.get("chance") for r in rows if r.get("chance") is not None]
    if chance:
        axes[0].axhline(chance[0], color="grey", linestyle="--", linewidth=1, label="chance")
    axes[0].set(title="Variant accuracy (higher is better)", ylim=(0, 1), xticks=list(x), xticklabels=names)
    axes[0].legend(fontsize=8)
    axes[1].bar(list(x), [r.get("delta_e") or 0 for r in rows], 0.5, color="tab:orange")
    axes[1].set(title="Mean CIEDE2000 to the colour image (lower is better)", xticks=list(x), xticklabels=names)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    from colorize.fileio import atomic_write_bytes

    atomic_write_bytes(path, buf.getvalue())
