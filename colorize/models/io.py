"""Saving and loading models: training checkpoints and shareable exports.

* A checkpoint ``RUN/checkpoints/step-0001000.pt`` is complete: generator, discriminator,
  both optimisers, the AMP scaler, the step, the config, the tag table (vocabulary,
  vectors, encoder identity) and the colorize version. It is written to a temporary file
  and moved into place with ``os.replace``, the last ``keep_last`` are kept, and it is
  loaded with ``weights_only=True`` (no code runs).
* An export (a model folder) holds ``model.safetensors`` (generator weights and tag
  vectors) and ``config.json`` (model config, vocabulary, encoder identity): a model to
  share, whose loading runs no code.

Both are checked when they are read and before an export is written (:func:`check_model`):
the model config's fields, the vocabulary against the tag vectors, and every weight's shape
against the networks the config describes, built on the ``meta`` device so that nothing
is allocated for a model that is refused. One :class:`ModelError` names the file and the field.

Weights saved before the conditioning modes became modules of their own (their keys had
no ``cond.`` prefix) are read through :func:`upgrade_generator_state`.

    path = save_checkpoint(run / "checkpoints", step, state, keep_last=3)
    state = load_checkpoint(path)
    save_pretrained(folder, generator_state, model_config, vocab, vectors, encoder, step)
    config, weights, vectors = load_pretrained(folder)
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import torch

import colorize
from colorize.config import ModelConfig, config_from_dict
from colorize.fileio import atomic_write_bytes, atomic_write_text, leftover_temp_files
from colorize.models.build import build_discriminator, build_generator

__all__ = ["CHECKPOINT_FORMAT", "ModelError", "check_model", "load_checkpoint", "load_pretrained", "save_checkpoint",
           "save_pretrained", "list_checkpoints", "model_of_run", "remove_killed_saves", "upgrade_generator_state"]

CHECKPOINT_FORMAT = 1
_STEP = re.compile(r"^step-(\d+)\.pt$")
# the files a run's saves write: RUN/checkpoints/{step-NNNNNNN,best}.pt and RUN/export/*
_SAVES = {"checkpoints": re.compile(r"step-\d+\.pt|best\.pt"), "export": re.compile(r"model\.safetensors|config\.json")}
# top-level generator attributes that moved into its conditioning module (``cond.``)
_MOVED = ("tag_plane", "cond_mlp", "film", "tag_proj", "null_token", "attn")


class ModelError(ValueError):
    """A model that cannot be loaded; the message names the file, what is wrong and what to do."""


def check_model(source: str | Path, model: Any, vocab: Any, vectors: Any, encoder: Any,
                weights: dict[str, Any] | None = None, discriminator: dict[str, Any] | None = None,
                fix: str = "") -> ModelConfig:
    """The :class:`ModelConfig` of a model read from (or about to be written to) ``source``,
    once everything in it fits together; else one :class:`ModelError` naming ``source``, the
    field and ``fix`` (what to do).

    ``model`` is the config as plain data, ``vocab`` the tags, ``vectors`` their embeddings
    (one row each, ``model.tag_dim`` wide), ``encoder`` the encoder's identity, and
    ``weights`` / ``discriminator`` the networks' state dicts, when there are any to check.
    """
    def refuse(problem: str) -> ModelError:
        return ModelError(f"{source}: {problem}." + (f" {fix}" if fix else ""))

    if not isinstance(model, dict):
        raise refuse(f"model must be a table of model settings, got {type(model).__name__}")
    try:
        config = config_from_dict(ModelConfig, dict(model))
    except (TypeError, ValueError) as e:  # the field, its range or its choices
        raise refuse(str(e).rstrip(".")) from None
    check_tag_table(vocab, vectors, config.tag_dim, refuse)
    if not isinstance(encoder, dict):
        raise refuse(f"encoder must be a table naming the tag encoder, got {encoder!r}")
    if encoder.get("dim", config.tag_dim) != config.tag_dim:
        raise refuse(f"encoder.dim is {encoder.get('dim')!r}, but model.tag_dim is {config.tag_dim}")
    for what, state, build in (("generator", weights, build_generator), ("discriminator", discriminator,
                                                                          build_discriminator)):
        if state is not None:
            with torch.device("meta"):  # the shapes the config implies, with nothing allocated
                expected = {k: v.shape for k, v in build(config).state_dict().items()}
            problem = _weights_problem(state, expected)
            if problem:
                raise refuse(f"the {what} weights do not fit the model config: {problem}")
    return config


def check_tag_table(vocab: Any, vectors: Any, tag_dim: int, refuse) -> None:
    """Raise ``refuse(problem)`` unless ``vocab`` is a list of distinct tags and ``vectors`` a
    finite float table of one ``tag_dim``-wide row per tag."""
    if not isinstance(vocab, list):
        raise refuse(f"vocab must be a list of tags, got {type(vocab).__name__}")
    for i, tag in enumerate(vocab):
        if not isinstance(tag, str):
            raise refuse(f"vocab[{i}] is {tag!r}; every tag must be text")
    if len(set(vocab)) != len(vocab):
        seen: set[str] = set()
        twice = next(t for t in vocab if t in seen or seen.add(t))
        raise refuse(f"vocab holds the tag {twice!r} twice")
    if not isinstance(vectors, torch.Tensor) or not vectors.is_floating_point() or vectors.ndim != 2:
        what = (f"a {vectors.ndim}-d {vectors.dtype} tensor" if isinstance(vectors, torch.Tensor)
                else type(vectors).__name__)
        raise refuse(f"the tag vectors must be a 2-d float table, got {what}")
    if vectors.shape[0] != len(vocab):
        raise refuse(f"vocab has {len(vocab)} tags, but there are {vectors.shape[0]} tag vectors; "
                     f"they must match one to one")
    if vectors.shape[1] != tag_dim:
        raise refuse(f"the tag vectors are {vectors.shape[1]} wide, but model.tag_dim is {tag_dim}")
    if not torch.isfinite(vectors).all():
        raise refuse("the tag vectors hold NaN or infinite values")


def _weights_problem(state: Any, expected: dict[str, torch.Size]) -> str:
    """What is wrong with ``state`` against the ``expected`` shapes, or ``""``."""
    if not isinstance(state, dict):
        return f"expected a table of tensors, got {type(state).__name__}"

    def some(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (" ..." if len(keys) > 3 else "")

    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    wrong = [f"{k} is {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}, expected {tuple(shape)}"
             for k, shape in expected.items()  # in the network's order: the first layer that differs first
             if k in state and not (isinstance(v := state[k], torch.Tensor) and v.shape == shape)]
    problems = ([f"missing {some(missing)}"] if missing else []) + ([f"unexpected {some(extra)}"] if extra else [])
    problems += wrong[:3]
    return "; ".join(problems)


def upgrade_generator_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Generator weights of any colorize version -> this version's key names."""
    return {f"cond.{k}" if k.split(".", 1)[0] in _MOVED else k: v for k, v in state.items()}


def save_checkpoint(folder: Path, step: int, state: dict[str, Any], keep_last: int = 3,
                    name: str | None = None) -> Path:
    """Write ``state`` as ``folder/step-NNNNNNN.pt`` atomically and keep only the newest ``keep_last``.

    With ``name`` (``best.pt``) it is written under that name instead, outside the rotation.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"step-{step:07d}.pt")
    buf = io.BytesIO()
    torch.save({**state, "format": CHECKPOINT_FORMAT, "version": colorize.__version__, "step": step}, buf)
    atomic_write_bytes(path, buf.getvalue())
    if name is not None:
        return path
    for old in list_checkpoints(folder)[:-keep_last] if keep_last > 0 else []:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(folder: Path) -> list[Path]:
    """The ``step-*.pt`` files of ``folder``, oldest first."""
    found = [(int(m.group(1)), p) for p in folder.glob("step-*.pt") if (m := _STEP.match(p.name))]
    return [p for _, p in sorted(found)]


def remove_killed_saves(run: Path) -> list[tuple[Path, int]]:
    """Delete the temporary files that killed checkpoint and export saves left in ``run``'s
    ``checkpoints/`` and ``export/`` (a checkpoint's is as large as a checkpoint, 143 MB for
    the cpu preset). Only those folders, and only the temporary names of files a save
    writes there. Returns each file removed, with its size in bytes.
    """
    removed = []
    for sub, names in _SAVES.items():
        for path in leftover_temp_files(run / sub, names):
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:  # gone meanwhile: nothing left to remove
                continue
            removed.append((path, size))
    return removed


def model_of_run(folder: Path) -> Path | None:
    """The model a run folder (or its ``checkpoints/``) holds, as a user means it, or None when it has none yet.

    Its ``export/`` when both files are there. Else the checkpoint export/ would have held:
    ``best.pt``, the best check, when the run made checks, else its newest ``step-*.pt``
    (a run stopped before its first export, or whose export/ was removed).
    """
    export = folder / "export"
    if (export / "model.safetensors").is_file() and (export / "config.json").is_file():
        return export
    for checkpoints in (folder / "checkpoints", folder):
        if (checkpoints / "best.pt").is_file():
            return checkpoints / "best.pt"
        if found := list_checkpoints(checkpoints):
            return found[-1]
    return None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (tensors and plain data only)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such checkpoint") from None
    except Exception as e:  # a truncated or foreign file: say which and what to do
        raise ModelError(f"{path}: not a readable colorize checkpoint ({type(e).__name__}: {e}). "
                         f"Resume from an older one in the same folder.") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{path}: not a colorize checkpoint of format {CHECKPOINT_FORMAT}")
    missing = [key for key in ("config", "step", "G", "D", "vocab", "vectors", "encoder") if key not in state]
    if missing or not isinstance(state["config"], dict):
        raise ModelError(f"{path}: a colorize checkpoint without " + (", ".join(missing) or "its config")
                         + ". Resume or export from another checkpoint of its run.")
    for key in ("G", "G_ema"):
        if isinstance(state.get(key), dict):
            state[key] = upgrade_generator_state(state[key])
    fix = "Resume or export from another checkpoint of its run."
    check_model(path, state["config"].get("model"), state["vocab"], state["vectors"], state["encoder"],
                weights=state["G"], discriminator=state["D"], fix=fix)
    if state.get("G_ema") is not None:
        check_model(path, state["config"]["model"], state["vocab"], state["vectors"], state["encoder"],
                    weights=state["G_ema"], fix=fix)
    return state


def save_pretrained(folder: Path, generator_state: dict[str, torch.Tensor], model_config: dict, vocab: list[str],
                    vectors: torch.Tensor, encoder: dict, step: int, half: bool = False) -> Path:
    """Write ``model.safetensors`` + ``config.json`` into ``folder``: the shareable model.

    ``half`` stores floating-point tensors as float16, half the size on disk; they are
    read back as float32.
    """
    from safetensors.torch import save

    def store(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().cpu()
        return (t.half() if half and t.is_floating_point() else t).contiguous()

    # the same checks as loading: an export that could not be read back is never written
    check_model(Path(folder) / "config.json", model_config, vocab, vectors, encoder, weights=generator_state,
                fix="This is a bug in the code that exports it; the folder was left as it was.")
    tensors = {f"generator.{k}": store(v) for k, v in generator_state.items()}
    tensors["tags.vectors"] = store(vectors.float())
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / "model.safetensors", save(tensors, metadata={"format": "colorize"}))
    config = {"model": model_config, "vocab": vocab, "encoder": encoder, "step": step,
              "colorize_version": colorize.__version__}
    atomic_write_text(folder / "config.json", json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    return folder


def load_pretrained(folder: str | Path) -> tuple[dict, dict[str, torch.Tensor], torch.Tensor]:
    """Read a model folder: ``(config, generator_state, tag_vectors)``; runs no code."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config_file, weights = folder / "config.json", folder / "model.safetensors"
    for f in (config_file, weights):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: missing. A model folder holds model.safetensors and config.json "
                                    f"(written by `colorize train` into RUN/export).")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        tensors = {k: v.float() if v.is_floating_point() else v for k, v in load_file(weights).items()}
    except Exception as e:  # damaged JSON or weights (safetensors raises its own error type)
        raise ModelError(f"{folder}: not a readable colorize model ({type(e).__name__}: {e}). "
                         f"Export it again from its run with `colorize export`.") from None
    state = {k.removeprefix("generator."): v for k, v in tensors.items() if k.startswith("generator.")}
    if not isinstance(config, dict) or "tags.vectors" not in tensors or "model" not in config or "vocab" not in config:
        raise ModelError(f"{folder}: model.safetensors or config.json lacks the tag table; not a colorize export.")
    state, vectors = upgrade_generator_state(state), tensors["tags.vectors"]
    fix = "Export it again from its run with `colorize export`."
    check_model(config_file, config["model"], config["vocab"], vectors, config.get("encoder"), weights=state, fix=fix)
    step = config.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ModelError(f"{config_file}: step must be a whole number of training steps, got {step!r}. {fix}")
    return config, state, vectors
