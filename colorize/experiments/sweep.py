"""``colorize ablate-train``: runs that differ in one thing each, under the same budget, compared.

A run is a conditioning mode (``none``, ``channel``, ``film``, ``tokens``), optionally
crossed with named *variants* of the recipe (``"no-gan: gan_lambda=0"``): a variant that
sets ``model.conditioning`` itself runs once, any other runs once per mode. Every run
starts from the same config and has its own folder ``OUT/runs/NAME``. The budget is
steps or, with ``minutes``, wall-clock time: at equal minutes a cheaper recipe gets more
steps, which is the comparison that matters on a small machine.

Each run's export (its best check when checks are on) is evaluated on the val split.
One table (``comparison.md``, ``.csv``, ``.json``) and one figure (``comparison.png``:
variant accuracy against minutes of training, from each run's ``eval.csv``, and the
final scores) compare them.

Re-running the command resumes: a finished run (its ``evaluation.json`` written) is
skipped, an interrupted one continues from its last checkpoint.

    sweep(load_config("cpu", {"minutes": 3}), "ablation-train/", modes=["film", "tokens"],
          variants={"no-weight": {"variant_weight": 0}})
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any

from colorize.config import TrainConfig, parse_assignment, with_overrides
from colorize.eval.evaluate import METRICS, evaluate, write_report
from colorize.fileio import atomic_write_bytes, atomic_write_text

__all__ = ["parse_variant", "plan_runs", "run_name", "sweep", "write_comparison"]


def run_name(mode: str, encoder: str, several_encoders: bool) -> str:
    """``film`` or, when encoders are compared too, ``film-all-MiniLM-L6-v2``."""
    if not several_encoders:
        return mode
    return f"{mode}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', Path(encoder).name or encoder)}"


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"no-gan: gan_lambda=0, model.dropout=false"`` -> ``("no-gan", {"gan_lambda": 0, "model.dropout": False})``.

    Values are read as TOML (numbers, booleans, quoted text), else kept as text.
    """
    name, sep, body = text.partition(":")
    name = name.strip()
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        raise ValueError(f"variant {text!r}: write it as NAME: KEY=VALUE, KEY=VALUE (NAME of letters, digits, -_.+)")
    try:
        settings = dict(parse_assignment(item) for item in filter(None, (part.strip() for part in body.split(","))))
    except ValueError as e:
        raise ValueError(f"variant {name!r}: {e}") from None
    return name, settings


def plan_runs(modes: list[str], variants: dict[str, dict[str, Any]] | None,
              encoders: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """(run name, overrides) for every run, in order.

    Names: ``MODE`` without variants, ``VARIANT-MODE`` for a variant crossed with the
    modes, ``VARIANT`` for one that sets its own conditioning; ``-ENCODER`` is appended
    when several encoders are compared.
    """
    runs = []
    for encoder in encoders:
        suffix = run_name("", encoder, len(encoders) > 1)
        for variant, settings in (variants or {"": {}}).items():
            own_mode = "model.conditioning" in settings
            for mode in ([settings["model.conditioning"]] if own_mode else modes):
                name = (variant if own_mode else "-".join(filter(None, [variant, mode]))) + suffix
                runs.append((name, {**settings, "model.conditioning": mode, "encoder": encoder}))
    names = [n for n, _ in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"two runs would share a folder: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    return runs


def _finished_step(run: Path) -> int:
    found = sorted(run.glob("checkpoints/step-*.pt"))
    return int(found[-1].stem.split("-")[1]) if found else 0


def sweep(config: TrainConfig, out: str | os.PathLike, modes: list[str], encoders: list[str] | None = None,
          variants: dict[str, dict[str, Any]] | None = None, eval_split: str = "val",
          eval_limit: int | None = None, progress: bool = True, log=print) -> dict:
    """Train and evaluate every run under ``config``'s budget; write the comparison."""
    from colorize.data.manifest import Manifest
    from colorize.infer.colorizer import Colorizer
    from colorize.train.trainer import Trainer

    reference = config.sources[0].path  # with several datasets, runs are compared on the first
    if len(Manifest(reference, split=eval_split)) == 0:  # say so before hours of training, not after
        raise ValueError(f"{reference}: split {eval_split!r} is empty; nothing to evaluate the runs on. "
                         f"Pick another with --eval-split.")
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    planned = [(name, with_overrides(config, overrides)) for name, overrides in
               plan_runs(modes, variants, encoders or [config.encoder])]  # every config checked before training
    budget = f"{config.minutes:g} min" if config.minutes else f"{config.steps} steps"
    results = {}
    for name, cfg in planned:
        run = out / "runs" / name
        evaluation = run / "evaluation.json"
        if evaluation.is_file():
            log(f"{name}: finished earlier, skipped ({evaluation})")
            results[name] = json.loads(evaluation.read_text(encoding="utf-8"))
            continue
        if _finished_step(run) > 0:
            log(f"{name}: resuming from step {_finished_step(run)}")
            trainer = Trainer.resume(run, steps=cfg.steps, minutes=cfg.minutes, progress=progress)
        else:
            cfg = copy.deepcopy(cfg)
            cfg.name, cfg.runs_dir = name, str(out / "runs")
            run.mkdir(parents=True, exist_ok=True)
            log(f"{name}: training for {budget}")
            trainer = Trainer(cfg, run_dir=run, progress=progress)
        trainer.train()
        if trainer.step < cfg.steps and not trainer._out_of_time():
            raise InterruptedError(f"{name}: stopped at step {trainer.step} before its budget ({budget}). "
                                   f"Run the same command again to resume.")
        colorizer = Colorizer.from_pretrained(run / "export", device=str(trainer.device))
        result = evaluate(colorizer, reference, split=eval_split, limit=eval_limit, progress=progress)
        result |= {"run": name, "conditioning": cfg.model.conditioning, "encoder": cfg.encoder,
                   "steps": trainer.step, "minutes": round(trainer.elapsed / 60, 2), "batch_size": cfg.batch_size,
                   "size": cfg.model.size, "best_check": trainer.best}
        write_report(result, run)
        results[name] = result
    write_comparison(results, out, config)
    return results


def _summary(result: dict) -> dict:
    row = {"run": result["run"], "conditioning": result["conditioning"], "encoder": result["encoder"],
           "steps": result["steps"], "minutes": result.get("minutes")}
    if result.get("minutes"):
        row["images_per_minute"] = round(result["steps"] * result["batch_size"] / result["minutes"])
    best = result.get("best_check") or {}
    row["best_check_step"] = best.get("step")
    row["best_check_variant_accuracy"] = best.get("variant_accuracy")
    for condition in ("tags", "no_tags"):
        part = result["conditions"].get(condition, {}).get("all")
        if part is None:
            continue
        suffix = "" if condition == "tags" else "_no_tags"
        row |= {f"{m}{suffix}": part[m] for m in METRICS}
        row[f"variant_accuracy{suffix}"] = part["variant"]["accuracy"]
        row["chance"] = part["variant"]["chance"]
        row["ceiling"] = part["variant"].get("ceiling")
    traced = result["conditions"].get("tags, traced lines", {}).get("all")
    if traced is not None:  # the lines of another hand (evaluate's traced pass)
        row["variant_accuracy_traced"] = traced["variant"]["accuracy"]
        row["delta_e_traced"] = traced["delta_e"]
    hands = result.get("hands") or {}
    for lines in ("own", "traced"):
        tone = (hands.get(lines) or {}).get("tone_order") or {}
        if tone.get("drawings"):
            row[f"tone_order_{lines}"] = tone["share"]
    if best.get("pick") is not None:
        row["best_check_pick"] = best["pick"]
    return row


def write_comparison(results: dict, out: Path, config: TrainConfig) -> None:
    """``comparison.{json,csv,md,png}`` from the runs' evaluations (and their ``eval.csv`` curves)."""
    out = Path(out)
    rows = [_summary(r) for r in results.values()]
    atomic_write_text(out / "comparison.json", json.dumps({"config": config.to_dict(), "runs": rows}, indent=2) + "\n")
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "comparison.csv", buf.getvalue())

    m = config.model
    budget = f"{config.minutes:g} minutes of wall clock" if config.minutes else f"{config.steps} steps"
    lines = [f"Same budget for every run: {budget}, starting from batch {config.batch_size} at {m.size} px, "
             f"ngf {m.ngf}, ndf {m.ndf}, data `{config.data}`; each run changes what its name says. "
             f"Each run's export (its best check, when checks are on) is evaluated on the val split.", "",
             "| run | steps | images / min | best check | variant acc. | traced lines | tone order own / traced "
             "| no tags | chance | ceiling | ΔE2000 ↓ | L1 ↓ | SSIM ↑ |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def f(value, spec):
        return "-" if value is None else format(value, spec)

    for r in rows:
        lines.append(f"| {r['run']} | {r['steps']} | {f(r.get('images_per_minute'), 'd')} | "
                     f"{f(r.get('best_check_pick', r.get('best_check_variant_accuracy')), '.3f')} | "
                     f"{f(r.get('variant_accuracy'), '.3f')} | {f(r.get('variant_accuracy_traced'), '.3f')} | "
                     f"{f(r.get('tone_order_own'), '.3f')} / {f(r.get('tone_order_traced'), '.3f')} | "
                     f"{f(r.get('variant_accuracy_no_tags'), '.3f')} | {f(r.get('chance'), '.3f')} | "
                     f"{f(r.get('ceiling'), '.3f')} | {f(r.get('delta_e'), '.2f')} | {f(r.get('l1'), '.4f')} | "
                     f"{f(r.get('ssim'), '.4f')} |")
    lines += ["", "Best check: the highest val variant accuracy seen by the checks during training "
              "(`eval.csv`; with `eval_pick = \"mean\"`, the mean over every dataset's val, own and traced "
              "lines); that check's weights are the export, so the val split both picks and scores it. "
              "Traced lines: the same split with lines traced from the colour regions (another hand's "
              "lines, `evaluate`'s traced pass); tone order: the share of five-tone drawings whose outputs "
              "darken with every step."]
    atomic_write_text(out / "comparison.md", "\n".join(lines) + "\n")
    _plot(rows, {r["run"]: _curve(out / "runs" / r["run"] / "eval.csv") for r in rows}, out / "comparison.png")


def _curve(path: Path) -> list[tuple[float, float]]:
    """(minutes, variant accuracy) from a run's ``eval.csv``; empty when it has none."""
    try:
        with path.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        reference = rows[0].get("dataset") if rows else None  # several datasets: a row each, the first first
        return [(float(r["minutes"]), float(r["variant_accuracy"])) for r in rows if r.get("dataset") == reference]
    except (OSError, KeyError, ValueError):
        return []


def _plot(rows: list[dict], curves: dict[str, list[tuple[float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    names = [r["run"] for r in rows]
    colours = plt.get_cmap("tab20").colors
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.3, 1]})
    chance = next((r["chance"] for r in rows if r.get("chance") is not None), None)
    for i, name in enumerate(names):
        if curves.get(name):
            xs, ys = zip(*curves[name], strict=True)
            axes[0].plot(xs, ys, marker=".", color=colours[i % 20], label=name)
    if chance is not None:
        axes[0].axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    axes[0].set(title="Val variant accuracy during training", xlabel="minutes of training (wall clock)",
                ylabel="variant accuracy", ylim=(0, 1))
    x = list(range(len(rows)))
    axes[1].bar([i - 0.2 for i in x], [r.get("variant_accuracy") or 0 for r in rows], 0.4,
                color=[colours[i % 20] for i in x], label="with tags")
    axes[1].bar([i + 0.2 for i in x], [r.get("variant_accuracy_no_tags") or 0 for r in rows], 0.4,
                color="lightgrey", label="no tags")
    if chance is not None:
        axes[1].axhline(chance, color="grey", linestyle="--", linewidth=1)
    axes[1].set(title="Exported model, evaluated (val)", ylim=(0, 1), xticks=x)
    axes[1].set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    axes[1].legend(fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
