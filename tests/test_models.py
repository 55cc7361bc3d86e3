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
def table(encoder):
    from colorize.text.encoder import TagTable

    return TagTable.build(["woman", "red hair", "white hair", "light skin tone", "dark skin tone"], encoder)


@pytest.fixture(scope="module")
def tags(table):
    """Two real, different tag sets, as tokens and mask."""
    return table.tokens([["woman", "red hair"], ["woman", "white hair"]])


def _flip(tags):
    tokens, mask = tags
    return tokens.flip(0), mask.flip(0)


@pytest.mark.parametrize("mode", CONDITIONING)
def test_generator_forward_shape_and_finite(mode, tags, table):
    G = build_generator(ModelConfig(conditioning=mode, **TINY))
    sketch = torch.rand(3, 3, 64, 64) * 2 - 1
    # sets of different lengths, one of them empty
    tokens, mask = table.tokens([["woman", "red hair", "light skin tone"], ["white hair"], []])
    out = G(sketch, tokens, mask)  # mode none accepts the tags and ignores them
    assert out.shape == (3, 3, 64, 64) and torch.isfinite(out).all()
    assert out.abs().max() <= 1.0


def test_tokens_table_keeps_every_tag_and_pads(table):
    tokens, mask = table.tokens([["woman", "red hair", "woman"], []], min_length=4)
    assert tokens.shape == (2, 4, table.dim) and mask.tolist() == [[True, True, False, False], [False] * 4]
    assert torch.equal(tokens[0, :2], table.vectors[sorted([table.index["red hair"], table.index["woman"]])])
    assert torch.allclose(tokens[0][mask[0]].mean(0), table.pool([["woman", "red hair"]])[0])


def test_pooled_modes_read_tokens_as_the_pooled_set(table):
    """channel and film see the masked mean of the tokens: the same vector as the old pooled input."""
    torch.manual_seed(0)
    for mode in ("channel", "film"):
        G = build_generator(ModelConfig(conditioning=mode, **TINY))
        _train_one_step(G, table.tokens([["woman", "red hair"], ["white hair"]]))
        G.eval()
        sets = [["woman", "red hair"], ["white hair"]]
        with torch.no_grad():
            a = G(torch.zeros(2, 3, 64, 64), *table.tokens(sets, min_length=5))
            b = G(torch.zeros(2, 3, 64, 64), table.pool(sets))
        assert torch.allclose(a, b, atol=1e-6)


def _trained_tokens_generator(tags):
    torch.manual_seed(0)
    G = build_generator(ModelConfig(conditioning="tokens", **TINY))
    for _ in range(2):
        _train_one_step(G, tags)
    return G.eval()


def test_tokens_mode_order_and_padding_do_not_matter(table, tags):
    G = _trained_tokens_generator(tags)
    sketch = (torch.rand(1, 3, 64, 64) * 2 - 1).repeat(2, 1, 1, 1)
    tokens, mask = table.tokens([["woman", "red hair", "dark skin tone"]] * 2, min_length=8)
    # the second row: the same tags in another order, and more padding between them
    shuffled = torch.zeros_like(tokens)
    shuffled[1, [5, 0, 3]] = tokens[1, :3]
    shuffled_mask = torch.zeros_like(mask)
    shuffled_mask[1, [5, 0, 3]] = True
    tokens[1], mask[1] = shuffled[1], shuffled_mask[1]
    with torch.no_grad():
        out = G(sketch, tokens, mask)
    assert torch.allclose(out[0], out[1], atol=1e-5)


def test_tokens_mode_has_per_tag_projection_and_cross_attention(tags):
    G = _trained_tokens_generator(tags)
    assert G.cond.attn_levels, "cross-attention at the coarse decoder levels"
    assert all(2 ** (G.levels - i) <= 16 for i in G.cond.attn_levels)
    # the projection is trained and is applied to each tag on its own
    projected = G.cond.tag_proj(tags[0])
    assert projected.shape == (2, tags[0].shape[1], 256)
    assert torch.allclose(projected[0, 0], G.cond.tag_proj(tags[0][0:1, 0:1])[0, 0], atol=1e-6)
    # pulling apart: the projection is not a scaled identity, the sets' tokens differ
    assert not torch.allclose(projected[0, 0], projected[1, 0])  # red hair, white hair
    with torch.no_grad():  # an empty tag set attends to the null token alone: finite output
        out = G(torch.zeros(1, 3, 64, 64), torch.zeros(1, 1, 384), torch.zeros(1, 1, dtype=torch.bool))
    assert torch.isfinite(out).all()


def test_full_size_generator_has_pix2pix_unet_256_shape():
    G = UnetGenerator(ngf=64, levels=8, conditioning="none")
    assert math.isclose(sum(p.numel() for p in G.parameters()) / 1e6, 54.41, abs_tol=0.01)


def _train_one_step(G: UnetGenerator, tags) -> None:
    """One real optimiser step on an L1 loss, so zero-initialised FiLM heads become live."""
    opt = torch.optim.Adam(G.parameters(), lr=1e-3)
    sketch = torch.rand(2, 3, 64, 64) * 2 - 1
    out = G(sketch, *tags)
    loss = (out - torch.rand(2, 3, 64, 64)).abs().mean()
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
        out = G(sketch, *tags)
        swapped = G(sketch, *_flip(tags))
    if mode == "none":
        assert torch.equal(out[0], out[1]) and torch.equal(out, swapped)
    else:
        assert (out[0] - out[1]).abs().max() > 1e-6, "the same sketch with other tags must change"
        assert torch.allclose(out[0], swapped[1], atol=1e-6)


@pytest.mark.parametrize("mode", ["film", "tokens"])
def test_film_and_tokens_start_as_plain_pix2pix(mode, tags):
    G = build_generator(ModelConfig(conditioning=mode, **TINY)).eval()
    sketch = torch.rand(1, 3, 64, 64).repeat(2, 1, 1, 1)
    with torch.no_grad():
        out = G(sketch, *tags)
    assert torch.equal(out[0], out[1])


@pytest.mark.parametrize("mode", ["film", "tokens"])
def test_discriminator_is_patchgan_and_sees_tags(mode, tags):
    D = build_discriminator(ModelConfig(conditioning=mode, **TINY)).eval()
    assert (D.tag_proj is not None) == (mode == "tokens"), "tokens mode: D reads the tags through its own per-tag MLP"
    image = torch.rand(1, 3, 64, 64).repeat(2, 1, 1, 1)
    with torch.no_grad():
        logits = D(image, image, *tags)
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


def test_conditioning_is_a_registry_of_modules():
    from colorize.models.conditioning import MODES, Conditioning, build_conditioning

    assert set(MODES) == set(CONDITIONING) == {"channel", "film", "tokens", "none"}
    for mode in CONDITIONING:
        G = build_generator(ModelConfig(conditioning=mode, **TINY))
        if mode == "none":
            assert G.cond is None and not any(k.startswith("cond.") for k in G.state_dict())
        else:
            assert isinstance(G.cond, Conditioning) and type(G.cond).__module__.endswith(f".{mode}")
    with pytest.raises(ValueError, match="unknown conditioning 'secat'; choose from channel, film, tokens, none"):
        build_generator(ModelConfig(conditioning="secat", **TINY))


@pytest.mark.parametrize("mode", ["channel", "film", "tokens"])
def test_weights_saved_before_the_registry_still_load(mode, tags):
    """Older exports and checkpoints kept the mode's layers at the generator's top level."""
    from colorize.models.io import upgrade_generator_state

    torch.manual_seed(1)
    G = build_generator(ModelConfig(conditioning=mode, **TINY))
    _train_one_step(G, tags)
    old = {k.removeprefix("cond."): v for k, v in G.state_dict().items()}
    assert not any(k.startswith("cond.") for k in old)
    H = build_generator(ModelConfig(conditioning=mode, **TINY))
    H.load_state_dict(upgrade_generator_state(old))
    sketch = torch.rand(2, 3, 64, 64) * 2 - 1
    G.eval(), H.eval()
    with torch.no_grad():
        assert torch.equal(G(sketch, *tags), H(sketch, *tags))
    # and the parameter order (which optimiser states follow) is the one older versions had
    first = next(iter(G.state_dict()))
    assert first == ("cond.tag_plane.weight" if mode == "channel" else "down.0.weight")


def test_colouring_does_not_import_training(tiny_model):
    import subprocess
    import sys

    code = ("import sys; from colorize.infer.colorizer import Colorizer; "
            f"c = Colorizer.from_pretrained({str(tiny_model)!r}, device='cpu'); "
            "import numpy as np; c.colorize(np.full((64, 64, 3), 255, np.uint8), 'woman'); "
            "print(sorted(m for m in sys.modules if m.startswith('colorize.train')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_multiply_lines_lays_the_sketch_over_the_fills(tags):
    torch.manual_seed(2)
    G = build_generator(ModelConfig(conditioning="tokens", lines="multiply", **TINY))
    _train_one_step(G, tags)
    G.eval()
    sketch = torch.ones(2, 3, 64, 64)
    sketch[:, :, 30:33, :] = -1.0          # a black stroke across white paper
    sketch[:, :, 40, :] = 0.0              # and a grey one
    with torch.no_grad():
        out, fills = G(sketch, *tags), G(sketch, *tags, compose=False)
        other = G(sketch, *tags, lines=torch.ones_like(sketch))  # lines from elsewhere (training's clean sketch)
    assert torch.equal(out[:, :, 30:33], torch.full_like(out[:, :, 30:33], -1.0)), "black lines stay black"
    assert torch.allclose(out[:, :, :20], fills[:, :, :20], atol=1e-6), "white paper lets the fills through"
    assert torch.allclose((out[:, :, 40] + 1) / 2, (fills[:, :, 40] + 1) / 4, atol=1e-6), "grey lines halve the fills"
    assert torch.allclose(other, fills, atol=1e-6)
    with pytest.raises(ValueError, match="unknown lines 'ink'; choose from paint, multiply"):
        build_generator(ModelConfig(lines="ink", **TINY))
