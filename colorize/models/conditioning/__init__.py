"""How tags reach the generator: a registry of conditioning modes, one module each.

==========  =====================================================================
``channel``  :mod:`.channel`: the seed design, a coarse tag plane as a 4th input channel.
``film``     :mod:`.film`: an MLP of the pooled tags scales and shifts every decoder block.
``tokens``   :mod:`.tokens`: every tag a token of its own, read by cross-attention.
``none``     plain pix2pix: no conditioning module at all (``None``); tags are ignored.
==========  =====================================================================

A mode is an ``nn.Module`` with four hooks that :class:`~colorize.models.generator.UnetGenerator`
calls in order (:class:`Conditioning` documents them). Its parameters live under the
generator's ``cond.`` prefix. Adding a mode is one module here and one registry line.

    cond = build_conditioning("tokens", Spec(widths=[32, 64, 128], levels=3, tag_dim=384))
"""

from __future__ import annotations

from typing import Callable

from colorize.models.conditioning.base import Conditioning, Spec
from colorize.models.conditioning.channel import ChannelConditioning
from colorize.models.conditioning.film import FilmConditioning
from colorize.models.conditioning.tokens import TokensConditioning

__all__ = ["CONDITIONING", "MODES", "Conditioning", "Spec", "build_conditioning"]

MODES: dict[str, Callable[[Spec], Conditioning] | None] = {
    "channel": ChannelConditioning,
    "film": FilmConditioning,
    "tokens": TokensConditioning,
    "none": None,
}
CONDITIONING = tuple(MODES)


def build_conditioning(mode: str, spec: Spec) -> Conditioning | None:
    """The conditioning module of ``mode`` for a U-Net of ``spec``; None for ``none``."""
    if mode not in MODES:
        raise ValueError(f"unknown conditioning {mode!r}; choose from {', '.join(CONDITIONING)}")
    make = MODES[mode]
    return None if make is None else make(spec)
