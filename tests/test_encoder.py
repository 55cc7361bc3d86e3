"""The tag encoder (the real all-MiniLM-L6-v2, offline), its disk cache, pooling and the tag table."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from colorize.text.encoder import TagEncoder, TagTable
from colorize.train.trainer import drop_tags


def test_real_encoder_embeds_tags_offline_and_normalised(encoder):
    vectors = encoder.embed(["red hair", "white_hair", "green heart"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert similar > unrelated, "two hair colours are closer than a hair colour and a heart"
    assert encoder.identity["name"] == "all-MiniLM-L6-v2" and encoder.identity["dim"] == 384


def test_cache_is_keyed_by_identity_and_spares_the_model(encoder, tmp_path):
    first = TagEncoder(cache=tmp_path)
    first._model = encoder.model  # share the loaded weights; the cache is what is under test
    vectors = first.embed(["blue heart", "woman"])
    files = list((tmp_path / "tags").glob("*/vectors.npy"))
    assert len(files) == 1 and files[0].parent.name == first.key
    second = TagEncoder(cache=tmp_path)
    again = second.embed(["woman", "blue heart"])
    assert second._model is None, "cached tags never load the model"
    assert np.array_equal(again, vectors[::-1])


def test_pooling_is_order_invariant_and_empty_is_zero(encoder):
    table = TagTable.build(["woman", "red hair", "light skin tone"], encoder)
    pooled = table.pool([["woman", "red hair", "light skin tone"], ["light skin tone", "woman", "red hair"], []])
    assert torch.allclose(pooled[0], pooled[1])
    assert torch.count_nonzero(pooled[2]) == 0
    expected = torch.from_numpy(encoder.embed(["woman", "red hair", "light skin tone"])).mean(0)
    assert torch.allclose(pooled[0], expected, atol=1e-6)


def test_unknown_tags_need_an_encoder(encoder):
    table = TagTable.build(["woman"], encoder)
    table.pool([["hatsune miku"]])  # embedded on the fly
    assert "hatsune miku" in table.vocab
    frozen = TagTable(table.vocab, table.vectors, table.identity)  # as loaded from a checkpoint
    frozen.pool([["woman"]])
    with pytest.raises(KeyError, match="not in this model's vocabulary"):
        frozen.pool([["blue hair"]])


@pytest.mark.parametrize("p_set, p_each, expect", [
    (1.0, 0.0, [[], []]),
    (0.0, 0.0, [["a", "b"], ["c"]]),
    (0.0, 1.0, [[], []]),
])
def test_tag_dropout_extremes(p_set, p_each, expect):
    assert drop_tags([["a", "b"], ["c"]], p_set, p_each, random.Random(0)) == expect


def test_tag_dropout_rates():
    rng = random.Random(0)
    sets = drop_tags([["a", "b", "c", "d"]] * 4000, 0.1, 0.2, rng)
    empty = sum(not s for s in sets) / len(sets)
    kept = sum(len(s) for s in sets if s) / (4 * sum(1 for s in sets if s))
    assert 0.08 < empty < 0.13 and 0.76 < kept < 0.84


def test_a_table_with_colour_words_adds_the_colours_tags_name(encoder):
    table = TagTable.build(["red question mark", "white question mark", "red", "white"], encoder)
    plain_tokens, plain_mask = table.tokens([["red question mark"]])
    table.colour_words = True
    tokens, mask = table.tokens([["red question mark"], ["white question mark"]])
    assert plain_mask.sum() == 1 and mask.sum(dim=1).tolist() == [2, 2]
    red = table.vectors[table.index["red"]]
    assert any(torch.equal(row, red) for row in tokens[0][mask[0]])
    assert not any(torch.equal(row, red) for row in tokens[1][mask[1]])
    pooled = table.pool([["red question mark"]])[0]  # pooling reads the same set as tokens
    assert torch.allclose(pooled, tokens[0][mask[0]].mean(dim=0))
