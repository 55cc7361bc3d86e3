"""Networks at 64 px with tiny widths: shapes, finiteness, and that tags reach the output."""

from __future__ import annotations

import math

import pytest
import torch

from colorize.config import ModelConfig, load_config, preset_names
from colorize.models.build import build_discriminator, build_generator
from colorize.models.generator import CONDITIONING, UnetGenerator
from colorize.models.losses import GANLoss

TINY = dict(size=64, ngf=8, ndf=8)


@pytest.fixture(scope="module")
def tags(encoder):
    """Two real, different tag sets, pooled."""
    from colorize.text.encoder import TagTable

    table = TagTable.build(["woman", "red hair", "white hair"], encoder)
    return table.pool([["woman", "red hair"], ["woman", "white hair"]])


@pytest.mark.parametrize("mode", CONDITIONING)
def test_generator_forward_shape_and_finite(mode, tags):
    G = build_generator(ModelConfig(conditioning=mode, **TINY))
    out = G(torch.rand(2, 3, 64, 64) * 2 - 1, tags if mode != "none" else None)
    assert out.shape == (2, 3, 64, 64) and torch.isfinite(out).all()
    assert out.abs().max() <= 1.0


def test_full_size_generator_has_pix2pix_unet_256_shape():
    G = UnetGenerator(ngf=64, levels=8, conditioning="none")
    assert math.isclose(sum(p.numel() for p in G.parameters()) / 1e6, 54.41, abs_tol=0.01)


def _train_one_step(G: UnetGenerator, tags: torch.Tensor) -> None:
    """One real optimiser step on an L1 loss, so zero-initialised FiLM heads become live."""
    opt = torch.optim.Adam(G.parameters(), lr=1e-3)
    sketch = torch.rand(2, 3, 64, 64) * 2 - 1
    loss = (G(sketch, tags if G.conditioning != "none" else None) - torch.rand(2, 3, 64, 64)).abs().mean()
    loss.backward()
    opt.step()


@pytest.mark.parametrize("mode", CONDITIONING)
def test_conditioning_matters(mode, tags):
    torch.manual_seed(0)
    G = build_generator(ModelConfig(conditioning=mode, **TINY))
    _train_one_step(G, tags)
    G.eval()
    sketch = (torch.rand(1, 3, 64, 64) * 2 - 1).repeat(2, 1, 1, 1)
    with torch.no_grad():
        out = G(sketch, tags if mode != "none" else None)
        swapped = G(sketch, tags.flip(0) if mode != "none" else None)
    if mode == "none":
        assert torch.equal(out[0], out[1]) and torch.equal(out, swapped)
    else:
        assert (out[0] - out[1]).abs().max() > 1e-6, "the same sketch with other tags must change"
        assert torch.allclose(out[0], swapped[1])


def test_film_starts_as_plain_pix2pix(tags):
    G = build_generator(ModelConfig(conditioning="film", **TINY)).eval()
    sketch = torch.rand(1, 3, 64, 64).repeat(2, 1, 1, 1)
    with torch.no_grad():
        out = G(sketch, tags)
    assert torch.equal(out[0], out[1])


def test_discriminator_is_patchgan_and_sees_tags(tags):
    D = build_discriminator(ModelConfig(conditioning="film", **TINY)).eval()
    image = torch.rand(1, 3, 64, 64).repeat(2, 1, 1, 1)
    with torch.no_grad():
        logits = D(image, image, tags)
    assert logits.shape == (2, 1, 6, 6) and torch.isfinite(logits).all()
    assert not torch.allclose(logits[0], logits[1]), "projection: same pair, other tags, other score"
    blind = build_discriminator(ModelConfig(conditioning="none", **TINY))
    assert blind.project is None and blind(image, image).shape == (2, 1, 6, 6)
    big = build_discriminator(ModelConfig(conditioning="none", size=256, ngf=8, ndf=8))
    assert big(torch.zeros(1, 3, 256, 256), torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)  # 70x70 patches


@pytest.mark.parametrize("kind, d_expected, g_expected", [
    ("vanilla", math.log(2), math.log(2)),
    ("lsgan", 0.5, 1.0),
    ("hinge", 1.0, 0.0),
])
def test_gan_losses_on_known_inputs(kind, d_expected, g_expected):
    loss = GANLoss(kind)
    zeros = torch.zeros(2, 1, 4, 4)
    assert math.isclose(loss.discriminator(zeros, zeros).item(), d_expected, rel_tol=1e-6)
    assert math.isclose(loss.generator(zeros).item(), g_expected, rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.parametrize("bad", [{"conditioning": "attention"}, {"size": 96, "levels": 6}])
def test_bad_model_configs_fail_loudly(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)


def test_presets():
    assert {"cpu", "seed"} <= set(preset_names())
    seed = load_config("seed")
    assert (seed.model.size, seed.model.ngf, seed.batch_size, seed.model.conditioning) == (256, 64, 1, "channel")
    assert seed.model.levels == 8
    with pytest.raises(ValueError, match="unknown TrainConfig key"):
        load_config(None, {"batchsize": 3})
