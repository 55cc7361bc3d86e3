"""Colour sketches of any size with a trained model: the one inference path.

Every command that colours (``run``, ``evaluate``, ``ablate``, ``serve``) goes through
:class:`Colorizer`, so they all agree pixel for pixel.

A sketch is fitted into the model's square with white padding (aspect kept), coloured,
cut back out of the padding and scaled up to its original size. The original lines are
then laid over the upsampled colour with a multiply blend, so they stay as crisp as they
were drawn however coarse the model's resolution.

A batch changes a sketch's colours by float rounding only: ``colorize_batch`` gives every
image what ``colorize`` gives it alone, to within one level of 255 (see :meth:`Colorizer.predict`).

    colorizer = Colorizer.from_pretrained()            # the shipped OpenMoji model
    rgb = colorizer.colorize("sketch.png", "woman, red hair, dark skin tone")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from colorize.data.images import NotAnImage, TooFewPixels, fit_square, load_rgb, to_rgb
from colorize.data.tags import parse_tags
from colorize.device import pick_device
from colorize.finish import DEFAULT_FINISH, Finished, finish_layers, upscale
from colorize.palette import DEFAULT_MAX_DE, Palette
from colorize.text.encoder import TagEncoder, TagTable

__all__ = ["Colorizer", "DEFAULT_MODEL", "MIN_SIDE"]

log = logging.getLogger("colorize")

# Tag sets are padded to this many tokens (longer ones are kept whole): see Colorizer.embed.
TOKENS = 16
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "pretrained" / "hands-64"
MIN_SIDE = 4  # a sketch's longer side, in pixels, below which there is nothing to colour


class Colorizer:
    """A generator, its tag table and its resolution, ready to colour.

    Build one with :meth:`from_pretrained`. Tags outside the model's vocabulary are
    embedded on the fly with the model's own text encoder (loaded only when needed).
    """

    def __init__(self, generator: torch.nn.Module, table: TagTable, size: int, device: torch.device,
                 source: str = "", step: int | None = None, model_config: dict | None = None):
        self.G = generator.eval().to(device)
        self.table = table.to(device)
        self.size = size
        self.device = device
        self.source = source
        self.step = step
        self.model_config = model_config or {}  # ModelConfig as a dict, for re-exporting

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str = "auto") -> Colorizer:
        """Load a model: an export folder (``model.safetensors`` + ``config.json``), a run
        folder (its ``export/``; before it has one, ``checkpoints/best.pt`` or else its newest
        checkpoint), or a training checkpoint ``.pt``. None: the shipped model.

        Raises :class:`~colorize.models.io.ModelError` for anything wrong with the model
        (missing, damaged, foreign, or from an incompatible version) and
        :class:`~colorize.device.DeviceError` for a device this machine lacks.
        """
        from colorize.models.io import ModelError

        path = Path(path) if path is not None else DEFAULT_MODEL
        device = pick_device(device)  # before the model is read: a wrong --device fails fast
        try:
            return cls._load(path, device)
        except ModelError:
            raise
        except FileNotFoundError as e:
            raise ModelError(str(e)) from None
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:  # a checkpoint of another shape
            raise ModelError(f"{path}: not a model this version of colorize can load ({type(e).__name__}: "
                             f"{e}). Export it again with this version, or pass another --model.") from None

    @classmethod
    def _load(cls, path: Path, device: torch.device) -> Colorizer:
        from colorize.config import ModelConfig, config_from_dict
        from colorize.models.build import build_generator
        from colorize.models.io import load_checkpoint, load_pretrained, model_of_run

        if path.is_dir() and not (path / "model.safetensors").is_file():  # a run folder: its export, else a .pt
            found = model_of_run(path)
            if found is not None:
                path = found
            elif (path / "checkpoints").is_dir() or (path / "export").is_dir():
                raise FileNotFoundError(f"{path}: this run has no export/ and no checkpoint yet (a run saves them "
                                        f"every --save-every steps). Train it longer, or pass another model.")
        if path.is_file() and path.suffix == ".pt":
            state = load_checkpoint(path)
            model_config = state["config"]["model"]
            weights = state.get("G_ema") or state["G"]  # the EMA is the model, when the run kept one
            vocab, vectors, identity, step = state["vocab"], state["vectors"], state["encoder"], state["step"]
        elif path.is_dir():
            config, weights, vectors = load_pretrained(path)
            model_config, vocab, identity, step = config["model"], config["vocab"], config["encoder"], config.get("step")
        elif path == DEFAULT_MODEL:
            raise FileNotFoundError(f"{path}: the shipped model is missing from this install. "
                                    f"Reinstall colorize, or pass --model with a model folder.")
        else:
            raise FileNotFoundError(f"{path}: no such model. Pass a model folder (model.safetensors + config.json), "
                                    f"a run folder from `colorize train`, or a checkpoint .pt file.")
        model_cfg = config_from_dict(ModelConfig, dict(model_config))
        generator = build_generator(model_cfg)
        generator.load_state_dict(weights)
        table = TagTable(vocab, vectors, identity)
        table.colour_words = model_cfg.colour_words
        return cls(generator, table, model_cfg.size, device, source=str(path), step=step,
                   model_config=model_cfg.__dict__)

    def save_pretrained(self, folder: str | os.PathLike, half: bool = False) -> Path:
        """Write this model as a model folder (``model.safetensors`` + ``config.json``) that
        :meth:`from_pretrained` reads back; ``half`` stores float16."""
        from colorize.models.io import save_pretrained

        return save_pretrained(Path(folder), self.G.state_dict(), self.model_config, self.vocab, self.table.vectors,
                               self.table.identity, self.step or 0, half=half)

    @property
    def conditioning(self) -> str:
        return self.G.conditioning

    @property
    def vocab(self) -> list[str]:
        return list(self.table.vocab)

    # -- tags --------------------------------------------------------------------------------

    def unknown_tags(self, tags: Sequence[str]) -> list[str]:
        """Those of ``tags`` the model was not trained with (they will be embedded on the fly)."""
        return [t for t in parse_tags(tags) if t not in self.table.index]

    def embed(self, tag_sets: Sequence[str | Sequence[str] | None]) -> tuple[torch.Tensor, torch.Tensor]:
        """Tag tokens [B, T, dim] and their mask [B, T]; unknown tags are embedded first.

        Rows are padded to at least :data:`TOKENS` tags, so the longest tag set of the batch
        around a sketch does not change the shapes its attention runs at (its result still
        moves by float rounding, see :meth:`predict`).
        """
        sets = [parse_tags(t) for t in tag_sets]
        new = sorted({t for tags in sets for t in tags} - set(self.table.index))
        if new:
            if self.table.encoder is None:
                self.table.encoder = TagEncoder(self.table.identity.get("name", "all-MiniLM-L6-v2"))
            log.info("embedding %d tag(s) outside the model's vocabulary: %s", len(new), ", ".join(new))
            if self.table.private is None:  # else tokens() embeds them into its private cache
                self.table.add(new)
        return self.table.tokens(sets, min_length=TOKENS)

    def keep_tags_private(self, size: int = 1024) -> Colorizer:
        """Serve many clients: tags outside the vocabulary are embedded per request into a
        bounded private cache (``size`` tags, least recently used dropped) and never join
        :attr:`vocab`; the encoder keeps no cache of its own, in memory or on disk."""
        self.table.keep_private(size)
        self.table.encoder = TagEncoder(self.table.identity.get("name", "all-MiniLM-L6-v2"), cache=False,
                                        remember=False)
        return self

    # -- colouring ---------------------------------------------------------------------------

    @staticmethod
    def load(image: str | os.PathLike | bytes | np.ndarray, max_pixels: int | None = None) -> np.ndarray:
        """Any image the tool accepts -> RGB uint8 [H, W, 3] on white (see :func:`load_rgb`)."""
        if isinstance(image, np.ndarray):
            rgb = image
            if rgb.ndim == 2:
                rgb = np.repeat(rgb[..., None], 3, axis=-1)
            if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
                raise NotAnImage(f"expected a uint8 RGB array [H, W, 3], got {rgb.dtype} {tuple(rgb.shape)}")
        elif hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image
            rgb = to_rgb(image)
        else:
            rgb = load_rgb(image) if max_pixels is None else load_rgb(image, max_pixels=max_pixels)
        if max(rgb.shape[:2]) < MIN_SIDE:
            h, w = rgb.shape[:2]
            raise TooFewPixels(f"{w}x{h} is too small to colour; a sketch needs at least {MIN_SIDE} pixels "
                             f"on its longer side")
        return rgb

    @torch.inference_mode()
    def predict(self, sketches: torch.Tensor, tags: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
                compose: bool = True) -> torch.Tensor:
        """The raw model: sketches [B, 3, S, S] and tags (tokens and mask from :meth:`embed`, or
        pooled [B, dim]) in, colours [B, 3, S, S] in [-1, 1] out. ``compose=False``: a model
        that multiplies the lines over its fills returns the fills alone.

        A sample's colours agree with what it gets alone to float rounding, not bit for bit:
        BLAS and oneDNN pick their kernels (and so their summation order) by batch size,
        which moves a value by about 1e-7 on one CPU and not on another. Bit-for-bit
        equality would mean running every sketch on its own, at a third of the speed.
        """
        sketches = sketches.to(self.device)
        tokens, mask = tags if isinstance(tags, tuple) else (tags, None)
        return self.G(sketches, tokens.to(self.device), None if mask is None else mask.to(self.device),
                      compose=compose).float()

    def colour_squares(self, squares: Sequence[np.ndarray], tag_sets: Sequence[str | Sequence[str] | None],
                       compose: bool = True) -> np.ndarray:
        """The model on white-padded squares from :func:`fit_square`: RGB uint8 [B, S, S, 3] in and out."""
        batch = torch.from_numpy(np.stack(squares)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        assert batch.shape[1:] == (3, self.size, self.size), f"squares {tuple(batch.shape)}, model {self.size} px"
        out = self.predict(batch, self.embed(tag_sets), compose=compose)
        return out.add(1.0).mul(127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()

    def colorize_batch(self, images: Sequence[np.ndarray], tag_sets: Sequence[str | Sequence[str] | None],
                       keep_lines: bool = True, finish: str = DEFAULT_FINISH, palette: Palette | None = None,
                       max_de: float = DEFAULT_MAX_DE) -> list[np.ndarray]:
        """Colour RGB uint8 sketches (any sizes) with one tag set each; returns RGB uint8 at their sizes.
        With a ``palette``, flat regions take its colours (see :mod:`colorize.palette`)."""
        assert len(images) == len(tag_sets), f"{len(images)} images but {len(tag_sets)} tag sets"
        if not images:
            return []
        squares, boxes = zip(*(fit_square(rgb, self.size) for rgb in images), strict=True)
        # with the lines laid over at full size, a model's own lines at its size would only blur them
        out = self.colour_squares(squares, tag_sets, compose=not keep_lines)
        return [self.finish(o, rgb, box, keep_lines, finish, palette=palette, max_de=max_de)
                for o, rgb, box in zip(out, images, boxes, strict=True)]

    def colorize(self, image: str | os.PathLike | bytes | np.ndarray, tags: str | Sequence[str] | None = None,
                 keep_lines: bool = True, finish: str = DEFAULT_FINISH, palette: Palette | None = None,
                 max_de: float = DEFAULT_MAX_DE) -> np.ndarray:
        """Colour one sketch (a path, file bytes, a PIL image or an RGB array); RGB uint8 at its own size."""
        return self.colorize_batch([self.load(image)], [tags], keep_lines=keep_lines, finish=finish,
                                   palette=palette, max_de=max_de)[0]

    def layers(self, image: str | os.PathLike | bytes | np.ndarray, tags: str | Sequence[str] | None = None,
               gap: int | None = None, palette: Palette | None = None, max_de: float = DEFAULT_MAX_DE) -> Finished:
        """Colour one sketch once and keep every layer: ``soft`` and ``flats`` (with their region
        ``labels``) at the sketch's size, and ``result``, the flat finish (or soft, where flat
        cannot help; ``note`` says why). ``lay_lines(layers.soft, layers.sketch)`` is the soft finish."""
        rgb = self.load(image)
        square, box = fit_square(rgb, self.size)
        colour = self.colour_squares([square], [tags], compose=False)[0]
        return finish_layers(colour, rgb, box, how="flat", gap=gap, regions=True, palette=palette, max_de=max_de)

    @staticmethod
    def finish(square: np.ndarray, original: np.ndarray, box: tuple[int, int, int, int],
               keep_lines: bool = True, how: str = DEFAULT_FINISH, gap: int | None = None,
               palette: Palette | None = None, max_de: float = DEFAULT_MAX_DE) -> np.ndarray:
        """A coloured square -> the picture at ``original``'s size, its lines laid over the
        colour (``how``: ``soft`` or ``flat``, see :mod:`colorize.finish`)."""
        if not keep_lines:
            return upscale(square, original, box)
        finished = finish_layers(square, original, box, how=how, gap=gap, palette=palette, max_de=max_de)
        if finished.note:
            log.warning("%s.", finished.note)
        return finished.result
