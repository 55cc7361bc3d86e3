"""The PatchGAN discriminator of pix2pix, seeing the sketch and, optionally, the tags.

With ``n_layers=3`` each output logit judges a 70x70 patch of the input. The input is the
sketch and an image (real or generated) stacked as 6 channels, as in conditional pix2pix.

How it sees the tags (``tag_dim`` set): by projection (Miyato & Koyama, 2018). The tag
embedding is mapped to the width of the last hidden layer; its dot product with each
position's features is added to that position's logit. A colouring that looks right but
contradicts the tags ("blue heart" painted red) can then be scored as fake. In
``tokens`` mode the critic reads the same tag tokens as the generator: each tag goes
through a trainable per-tag MLP of its own, and the mean of those is what is projected.

    D = PatchDiscriminator(ndf=64, tag_dim=384)
    logits = D(sketch, image, tags)   # [B, 1, 30, 30] at 256 px
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from colorize.models.layers import TagProjector, as_tokens, masked_mean, norm_layer

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(nn.Module):
    """pix2pix's ``NLayerDiscriminator`` with an optional tag projection.

    Args:
        in_channels: sketch channels + image channels (3 + 3).
        ndf: width of the first layer.
        n_layers: stride-2 layers; 3 gives 70x70 patches.
        norm: ``batch`` or ``instance``.
        tag_dim: size of the tag embedding, or None for a discriminator blind to tags.
        tokens: map each tag through a per-tag MLP before pooling (``tokens`` mode).
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                 tag_dim: int | None = None, tokens: bool = False):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        width = ndf
        for n in range(1, n_layers + 1):
            stride = 2 if n < n_layers else 1
            new = ndf * min(2 ** n, 8)
            layers += [nn.Conv2d(width, new, 4, stride, 1, bias=False), norm_layer(norm, new), nn.LeakyReLU(0.2, inplace=True)]
            width = new
        self.features = nn.Sequential(*layers)
        self.to_logit = nn.Conv2d(width, 1, 4, 1, 1)
        self.tag_dim = tag_dim
        self.tag_proj = TagProjector(tag_dim, width) if tag_dim and tokens else None
        self.project = nn.Linear(width if tokens else tag_dim, width, bias=False) if tag_dim else None

    def forward(self, sketch: torch.Tensor, image: torch.Tensor, tags: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Patch logits [B, 1, h, w] for ``image`` as a colouring of ``sketch`` under ``tags``
        ([B, T, tag_dim] with ``mask`` [B, T], or pooled [B, tag_dim])."""
        assert sketch.shape[0] == image.shape[0] and sketch.shape[2:] == image.shape[2:], \
            f"sketch {tuple(sketch.shape)} and image {tuple(image.shape)} differ"
        h = self.features(torch.cat([sketch, image], dim=1))
        logits = self.to_logit(h)
        if self.project is not None:
            assert tags is not None and tags.shape[0] == h.shape[0] and tags.shape[-1] == self.tag_dim, \
                f"tags must be [B, T, {self.tag_dim}], got {None if tags is None else tuple(tags.shape)}"
            tokens, mask = as_tokens(tags.float(), mask)
            if self.tag_proj is not None:
                tokens = self.tag_proj(tokens)
            pooled = masked_mean(tokens, mask)
            match = (h * self.project(pooled).to(h.dtype)[:, :, None, None]).sum(dim=1, keepdim=True)
            # the 4x4 logit conv (padding 1) shrinks the map by one; a 2x2 mean aligns the two
            logits = logits + F.avg_pool2d(match, kernel_size=2, stride=1)
        return logits
