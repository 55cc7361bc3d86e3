"""Networks from a :class:`~colorize.config.ModelConfig`: the one place that maps config to constructors.

    G, D = build_generator(cfg), build_discriminator(cfg)
"""

from __future__ import annotations

from colorize.config import ModelConfig
from colorize.models.discriminator import PatchDiscriminator
from colorize.models.conditioning import MODES
from colorize.models.generator import UnetGenerator

__all__ = ["build_generator", "build_discriminator"]


def build_generator(cfg: ModelConfig) -> UnetGenerator:
    return UnetGenerator(ngf=cfg.ngf, levels=cfg.levels, norm=cfg.norm, dropout=cfg.dropout,
                         conditioning=cfg.conditioning, tag_dim=cfg.tag_dim, cond_dim=cfg.cond_dim, grid=cfg.grid,
                         attn_size=cfg.attn_size, lines=cfg.lines)


def build_discriminator(cfg: ModelConfig) -> PatchDiscriminator:
    sees_tags = cfg.d_tags and MODES[cfg.conditioning] is not None  # in mode none nothing reads tags
    return PatchDiscriminator(ndf=cfg.ndf, n_layers=cfg.d_layers, norm=cfg.norm,
                              tag_dim=cfg.tag_dim if sees_tags else None, tokens=cfg.conditioning == "tokens")
