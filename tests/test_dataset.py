"""The streaming dataset: shapes, dtypes, ranges, tags, workers and aligned augmentation; manifest checks at load."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from colorize.data.augment import geometric, line_style
from colorize.data.dataset import PairDataset, collate_pairs, to_image, to_tensor
from colorize.data.manifest import Manifest, ManifestError
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


def test_augmenting_at_a_larger_size_keeps_targets_sharp(dataset):
    """Turned and zoomed at the stored size, then shrunk: the target is as crisp as an unmoved one."""
    small = SIZE // 4
    plain = PairDataset(dataset, split=None, size=small)
    for augment_size in (None, SIZE):
        ds = PairDataset(dataset, split=None, size=small, augment=True, augment_size=augment_size, cache=True)
        sample = ds[0]
        assert sample["target"].shape == sample["sketch"].shape == sample["lines"].shape == (3, small, small)
    # sharpness: mean absolute Laplacian of the targets, over many random moves
    def sharpness(ds):
        values = []
        for i in range(len(ds)):
            image = to_image(ds[i]["target"]).astype(np.float32)
            values.append(np.abs(cv2.Laplacian(image, cv2.CV_32F)).mean())
        return float(np.mean(values))
    def moved(augment_size):
        ds = PairDataset(dataset, split=None, size=small, augment=True, augment_size=augment_size)
        ds._geometric.set_random_seed(0)  # the same moves at both sizes
        return ds
    reference, at_small, at_large = sharpness(plain), sharpness(moved(None)), sharpness(moved(SIZE))
    assert at_large > at_small and at_large > 0.9 * reference, (reference, at_small, at_large)


def test_augmented_samples_carry_the_lines_the_target_was_drawn_with(dataset):
    """``lines``: the sketch moved with the target, before any line-style change."""
    plain = PairDataset(dataset, split=None)
    ds = PairDataset(dataset, split=None, augment=True)
    ds._geometric = geometric(p=0.0)  # no move, so the lines must be the stored sketch exactly
    ds._line_style = line_style(p=1.0)
    restyled = 0
    for i in range(len(ds)):
        sample = ds[i]
        assert torch.equal(sample["lines"], plain[i]["sketch"])
        restyled += not torch.equal(sample["sketch"], sample["lines"])
    assert restyled > 0
    assert "lines" not in plain[0]


def test_the_cache_stops_at_its_limit_and_reads_the_rest_from_disk(dataset):
    plain = PairDataset(dataset, split=None)
    one_image = SIZE * SIZE * 3
    ds = PairDataset(dataset, split=None, cache=True, cache_mb=5.5 * one_image / 2 ** 20)
    for _ in range(2):
        for i in range(len(ds)):
            assert torch.equal(ds[i]["target"], plain[i]["target"]) and torch.equal(ds[i]["sketch"], plain[i]["sketch"])
    assert len(ds.cache) == 5 and ds.cache_bytes == 5 * one_image <= ds.cache_limit


# -- the manifest is checked when it is loaded -----------------------------------------------


def copy_with_line(dataset: Path, folder: Path, number: int, text: str) -> Path:
    """A copy of ``dataset`` in ``folder`` whose manifest has ``text`` as line ``number``."""
    shutil.copytree(dataset, folder)
    lines = (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    lines[number - 1] = text
    (folder / "manifest.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


def edited(dataset: Path, number: int, **fields) -> str:
    """Line ``number`` of ``dataset``'s manifest with ``fields`` replaced."""
    row = json.loads((dataset / "manifest.jsonl").read_text(encoding="utf-8").splitlines()[number - 1])
    return json.dumps(row | fields)


@pytest.mark.parametrize(("fields", "problem"), [
    ({"tags": None}, "tags is null, not a list of strings (write [] for no tags)"),
    ({"tags": ["red", 3]}, "tags[1] is a number (3); every tag must be a string"),
    # a string would become the tags "a", "d", "e", "h", "i", "r": refused, not split
    ({"tags": "red hair"}, 'tags is a string ("red hair"), not a list of strings; write it as a list'),
    ({"split": "vall"}, 'split is a string ("vall"), not one of train, val, excluded'),
    ({"id": 7}, "id is a number (7), not an id"),
    ({"color": ""}, "color is empty, not a path"),
    ({"is_flag": "yes"}, 'is_flag is a string ("yes"), not a boolean'),
    ({"width": 1.5}, "width is a number (1.5), not an integer"),
    ({"sketch": None, "extractor": "pencil"}, 'extractor is a string ("pencil"), not one of'),
])
def test_a_malformed_row_fails_the_load_with_its_line(dataset, tmp_path, fields, problem):
    copy = copy_with_line(dataset, tmp_path / "copy", 3, edited(dataset, 3, **fields))
    with pytest.raises(ManifestError) as caught:
        Manifest(copy, split="val")  # every row is checked, whichever split is read
    message = str(caught.value)
    assert message.startswith(f"{copy / 'manifest.jsonl'}, line 3: {problem}")
    assert message.endswith("Fix line 3 or rebuild the dataset.")


@pytest.mark.parametrize(("line", "got"), [
    ("42", "a number (42)"),
    ('["red hair"]', 'a list (["red hair"])'),
    ('"red hair"', 'a string ("red hair")'),
    ("null", "null"),
])
def test_a_line_that_is_not_a_json_object_fails_the_load(dataset, tmp_path, line, got):
    copy = copy_with_line(dataset, tmp_path / "copy", 5, line)
    with pytest.raises(ManifestError) as caught:
        PairDataset(copy, split="train")
    assert str(caught.value) == (f"{copy / 'manifest.jsonl'}, line 5: expected a JSON object, one row "
                                 f'{{"id": ...}}, got {got}. Fix line 5 or rebuild the dataset.')
    assert isinstance(caught.value, ValueError), "callers that catch ValueError keep working"


def test_rows_with_missing_images_are_skipped_named_and_reported_once(dataset, tmp_path, caplog):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    rows = [json.loads(line) for line in (copy / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    (copy / rows[1]["sketch"]).unlink()  # line 2
    (copy / rows[6]["color"]).unlink()  # line 7
    with caplog.at_level(logging.WARNING, logger="colorize"):
        manifest = Manifest(copy)
        again = PairDataset(copy, split=None)  # the same rows, opened again: no second warning
    assert len(manifest) == len(again) == len(rows) - 2
    assert manifest.missing == [(2, rows[1]["sketch"]), (7, rows[6]["color"])]
    assert {row["id"] for row in manifest} == {row["id"] for row in rows} - {rows[1]["id"], rows[6]["id"]}
    warnings = [r.getMessage() for r in caplog.records if r.name == "colorize"]
    assert warnings == [f"{copy / 'manifest.jsonl'}: 2 row(s) skipped: their image files are missing, "
                        f"e.g. line 2: {rows[1]['sketch']}, line 7: {rows[6]['color']}. "
                        f"Restore the files or rebuild the dataset."]
    assert [again[i]["id"] for i in range(len(again))] == [row["id"] for row in manifest], "every row left reads"


def test_a_split_whose_images_are_all_missing_fails_the_load(dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    shutil.rmtree(copy / "color")
    with pytest.raises(FileNotFoundError) as caught:
        Manifest(copy)
    first = json.loads((copy / "manifest.jsonl").read_text(encoding="utf-8").splitlines()[0])["color"]
    assert f"the image files of all 12 row(s) are missing (e.g. line 1: {first}, line 2: " in str(caught.value)
    assert str(caught.value).endswith("Pass the folder the manifest was built in, or rebuild the dataset.")
