"""The streaming dataset: shapes, dtypes, ranges, tags, workers and aligned augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from colorize.data.augment import geometric, line_style
from colorize.data.dataset import PairDataset, collate_pairs, to_image, to_tensor
from colorize.data.manifest import Manifest
from tests.conftest import SIZE


@pytest.mark.parametrize("augment", [False, True])
def test_sample_shapes_dtypes_and_ranges(dataset, augment):
    ds = PairDataset(dataset, split=("train", "val"), augment=augment)
    assert len(ds) == 9  # 12 samples less 3 flags
    for i in range(len(ds)):
        sample = ds[i]
        for key in ("sketch", "target"):
            x = sample[key]
            assert x.shape == (3, SIZE, SIZE) and x.dtype == torch.float32
            assert x.min() >= -1.0 and x.max() <= 1.0
        assert isinstance(sample["tags"], list) and isinstance(sample["id"], str)


def test_resize_and_split_selection(dataset):
    ds = PairDataset(dataset, split="excluded", size=32)
    assert len(ds) == 3 and ds[0]["sketch"].shape == (3, 32, 32)
    assert {tuple(ds[i]["tags"][:1]) for i in range(3)} == {("flag",)}


def test_loader_with_workers_collates_tags_as_lists(dataset):
    loader = DataLoader(PairDataset(dataset, split=None), batch_size=4, num_workers=2, collate_fn=collate_pairs)
    batches = list(loader)
    assert sum(len(b["id"]) for b in batches) == 12
    first = batches[0]
    assert first["sketch"].shape == (4, 3, SIZE, SIZE)
    assert all(isinstance(t, list) for t in first["tags"])


def test_tensor_round_trip_is_exact():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert (to_image(to_tensor(image)) == image).all()


def test_geometric_augmentation_moves_sketch_and_target_together(dataset):
    rows = Manifest(dataset)
    ds = PairDataset(dataset, split=None)
    transform = geometric(p=1.0)
    index = next(i for i, row in enumerate(rows) if row["id"] == "1F469-1F3FF-200D-1F9B0")
    sketch = (to_image(ds[index]["sketch"]))
    target = (to_image(ds[index]["target"]))
    for seed in range(5):
        transform.set_random_seed(seed)
        out = transform(image=sketch, target=target)
        moved_sketch, moved_target = out["image"], out["target"]
        assert not np.array_equal(moved_sketch, sketch), "the transform changed the geometry"
        ink = moved_sketch.max(axis=-1) < 40
        # the lines are black in the colour image too, so after the same warp they coincide
        assert (moved_target[ink].max(axis=-1) < 110).mean() > 0.95


def test_line_style_changes_only_the_sketch_and_keeps_it_grey(dataset):
    ds = PairDataset(dataset, split="train")
    sketch = to_image(ds[0]["sketch"])
    style = line_style(p=1.0)
    changed = False
    for seed in range(10):
        style.set_random_seed(seed)
        out = style(image=sketch)["image"]
        assert out.shape == sketch.shape and out.dtype == np.uint8
        changed |= not np.array_equal(out, sketch)
    assert changed


def test_missing_image_names_the_file_and_the_fix(tmp_path, dataset):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    ds = PairDataset(copy, split=None)
    (copy / ds.rows[0]["color"]).unlink()
    with pytest.raises(OSError, match="Rebuild the dataset"):
        ds[0]
