"""Saving and loading models: training checkpoints and shareable exports.

* A checkpoint ``RUN/checkpoints/step-0001000.pt`` is complete: generator, discriminator,
  both optimisers, the AMP scaler, the step, the config, the tag table (vocabulary,
  vectors, encoder identity) and the colorize version. It is written to a temporary file
  and moved into place with ``os.replace``, the last ``keep_last`` are kept, and it is
  loaded with ``weights_only=True`` (no code runs).
* An export (a model folder) holds ``model.safetensors`` (generator weights and tag
  vectors) and ``config.json`` (model config, vocabulary, encoder identity): a model to
  share, whose loading runs no code.

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
from colorize.fileio import atomic_write_bytes, atomic_write_text

__all__ = ["CHECKPOINT_FORMAT", "ModelError", "load_checkpoint", "load_pretrained", "save_checkpoint", "save_pretrained",
           "list_checkpoints", "upgrade_generator_state"]

CHECKPOINT_FORMAT = 1
_STEP = re.compile(r"^step-(\d+)\.pt$")
# top-level generator attributes that moved into its conditioning module (``cond.``)
_MOVED = ("tag_plane", "cond_mlp", "film", "tag_proj", "null_token", "attn")


class ModelError(ValueError):
    """A model that cannot be loaded; the message names the file, what is wrong and what to do."""


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
    for key in ("G", "G_ema"):
        if state.get(key) is not None:
            state[key] = upgrade_generator_state(state[key])
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
    if "tags.vectors" not in tensors or "model" not in config or "vocab" not in config:
        raise ModelError(f"{folder}: model.safetensors or config.json lacks the tag table; not a colorize export.")
    return config, upgrade_generator_state(state), tensors["tags.vectors"]
