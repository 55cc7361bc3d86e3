"""The streaming dataset: shapes, dtypes, ranges, tags, workers and aligned augmentation; manifest checks at load."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from colorize.data.augment import geometric
from colorize.data.linestyles import LineStyler
from colorize.data.dataset import PairDataset, collate_pairs, to_image, to_tensor
import colorize
from colorize.data.manifest import Manifest, ManifestError, split_for
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
    ds = PairDataset(dataset, split=None, augment=True, line_styles=LineStyler({"artist": 1}, {"broken": 1.0}))
    ds._geometric = geometric(p=0.0)  # no move, so the lines must be the stored sketch exactly
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


def in_a_fresh_process(code: str, hash_seed: str):
    """What ``code`` prints last, as JSON, run by a new interpreter whose ``hash()`` is salted by
    ``hash_seed``: a split that leaned on ``hash()`` would come out different in each."""
    root = str(Path(colorize.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONHASHSEED": hash_seed,
           "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.timeout(300)
def test_a_keys_split_is_the_same_in_every_process():
    keys = [f"drawing-{i}" for i in range(3000)] + ["1F469-1F3FB-200D-1F9B0", "ünïcode ✓", ""]
    code = ("import json; from colorize.data.manifest import split_for; "
            f"print(json.dumps([split_for(k) for k in {keys!r}]))")
    here = [split_for(k) for k in keys]
    assert 0.08 < here.count("val") / len(keys) < 0.12
    for seed in ("0", "1", "2718"):
        assert in_a_fresh_process(code, seed) == here, f"PYTHONHASHSEED={seed} moves keys between splits"


@pytest.mark.parametrize("key, val_fraction, split", [
    # SHA-1 test vectors (FIPS 180-2): sha1("abc") = a9993e36 4706816a ..., so its bucket, the first
    # 8 bytes big-endian over 2**64, is 0.66249...; the pangram's (2fd4e1c6 7a2d28fc ...) is 0.18684...
    ("abc", 0.66, "train"), ("abc", 0.67, "val"),
    ("The quick brown fox jumps over the lazy dog", 0.18, "train"),
    ("The quick brown fox jumps over the lazy dog", 0.19, "val"),
    ("The quick brown fox jumps over the lazy dog", 0.1, "train"),
])
def test_split_follows_the_documented_sha1_bucket(key, val_fraction, split):
    assert split_for(key, val_fraction) == split


@pytest.mark.timeout(300)
def test_adding_files_never_moves_old_ones_in_another_process(dataset, tmp_path):
    """Import a folder, add files, import again in another process with another hash salt: every
    image imported the first time keeps its id (a hash of its bytes) and its split, and is not
    imported again."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    colours = sorted((dataset / "color").glob("*.png"))
    for image in colours[:6]:
        shutil.copy(image, src)
    code = ("import json; from pathlib import Path; from colorize.data.importer import import_folder; "
            "from colorize.data.manifest import Manifest; "
            f"r = import_folder(Path({str(src)!r}), Path({str(out)!r}), size=64, workers=1, progress=False); "
            "print(json.dumps([r.imported, r.already, {row['id']: row['split'] for row in Manifest(Path("
            f"{str(out)!r}))}}]))")
    imported, _, first = in_a_fresh_process(code, "1")
    assert imported == len(first) == 6
    for image in colours[6:]:
        shutil.copy(image, src)
    imported, already, second = in_a_fresh_process(code, "2")
    assert (imported, already) == (len(colours) - 6, 6), "the old images are recognised, not imported again"
    assert {k: second.get(k) for k in first} == first, "adding files never moves old ones between splits"


@pytest.mark.timeout(300)
def test_openmoji_drawings_and_splits_are_the_same_in_another_process(dataset, svg_dir, tmp_path):
    """The OpenMoji build splits by drawing (a hash of the line layers): a build of part of the
    set, in another process with another hash salt, gives each emoji the same drawing and split."""
    part = tmp_path / "svgs"
    part.mkdir()
    for svg in sorted(svg_dir.glob("*.svg"))[::2]:
        shutil.copy(svg, part)
    out = tmp_path / "out"
    code = ("import json; from pathlib import Path; from colorize.data.openmoji import build_openmoji; "
            "from colorize.data.manifest import Manifest; "
            f"build_openmoji(Path({str(out)!r}), size=64, svg_dir=Path({str(part)!r}), workers=1, progress=False); "
            f"print(json.dumps({{r['id']: [r['drawing'], r['split']] for r in Manifest(Path({str(out)!r}))}}))")
    rows = {r["id"]: [r["drawing"], r["split"]] for r in Manifest(dataset)}
    for seed in ("3", "4"):
        built = in_a_fresh_process(code, seed)
        assert built and {k: rows[k] for k in built} == built, f"PYTHONHASHSEED={seed}"
