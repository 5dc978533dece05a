"""Training data: crops padded when images are small (§3.6 bug 9), the same dihedral transform
on both sides, samples fixed by (seed, epoch, index) whatever the worker count, a resumable
sharded sample stream, whole held-out scenes of the train list, a bounded photo cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.training import make_photos, make_realblur_j, smooth_image, write_rgb

from deblur_cli.datasets import Pair
from deblur_cli.errors import TrainingError
from deblur_cli.training.config import DataSection
from deblur_cli.training.data import (
    PairCrops,
    PhotoCache,
    StreamSampler,
    SyntheticCrops,
    dihedral,
    holdout_groups,
    make_loader,
    open_training_data,
)


def test_the_eight_dihedral_transforms_are_distinct_and_invertible() -> None:
    a = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    seen = {dihedral(a, k).tobytes() + bytes(dihedral(a, k).shape) for k in range(8)}
    assert len(seen) == 8
    assert dihedral(a, 4).shape == (3, 2, 1)


def _same_pair(tmp_path: Path, h: int, w: int) -> Pair:
    img = smooth_image(h, w, seed=1)
    path = write_rgb(tmp_path / "img.png", img)
    return Pair("img.png", path, path)


def test_crops_pad_small_images_and_transform_both_sides_alike(tmp_path: Path) -> None:
    pair = _same_pair(tmp_path, 40, 48)
    crops = PairCrops([pair], crop=64, augment="dihedral", seed=0)
    for epoch in range(6):
        blur, sharp = crops[(epoch, 0)]
        assert blur.shape == (3, 64, 64) and torch.equal(blur, sharp)
    plain = PairCrops([pair], crop=64, augment="none", seed=0)[(0, 0)][0]
    image = torch.from_numpy(smooth_image(40, 48, seed=1)).permute(2, 0, 1).float() / 255
    assert torch.equal(plain[:, :40, :48], image)  # the image itself, mirrored beyond it
    assert torch.equal(plain[:, 40:42, :48], image[:, [39, 38], :])


def test_samples_depend_only_on_seed_epoch_and_index(tmp_path: Path) -> None:
    pair = _same_pair(tmp_path, 80, 96)
    a, b = PairCrops([pair], 32, "dihedral", seed=5), PairCrops([pair], 32, "dihedral", seed=5)
    assert torch.equal(a[(3, 0)][0], b[(3, 0)][0])
    assert not all(torch.equal(a[(e, 0)][0], a[(0, 0)][0]) for e in range(1, 5))
    assert not torch.equal(PairCrops([pair], 32, "dihedral", seed=6)[(3, 0)][0], a[(3, 0)][0])


def test_stream_sampler_shards_and_resumes() -> None:
    one = iter(StreamSampler(5, seed=1, batch=2))
    single = [next(one) for _ in range(6)]
    flat = [k for batch in single for k in batch]
    for epoch in range(2):  # each epoch is a permutation
        assert sorted(i for e, i in flat if e == epoch) == list(range(5))
    r0, r1 = (iter(StreamSampler(5, seed=1, batch=1, world=2, rank=r)) for r in (0, 1))
    sharded = [k for _ in range(6) for k in (next(r0)[0], next(r1)[0])]
    assert sharded == flat[:12]
    resumed = iter(StreamSampler(5, seed=1, batch=2, start=6))
    assert next(resumed) == single[3]


def test_synthetic_samples_do_not_depend_on_worker_count(tmp_path: Path) -> None:
    photos = sorted(make_photos(tmp_path / "photos").rglob("*.png"))
    data = DataSection(
        dataset="synthetic",
        root=str(tmp_path),
        crop=32,
        synthetic={"kernel_size": 9},
        scale=(0.5, 1.0),
    )
    dataset = SyntheticCrops(photos, data, crop=32, seed=3)
    batches = {}
    for workers in (0, 2):
        stream = make_loader(dataset, StreamSampler(len(photos), 3, 2), workers, pin_memory=False)
        batches[workers] = [next(stream) for _ in range(3)]
        del stream
    for (b0, s0), (b2, s2) in zip(batches[0], batches[2]):
        assert b0.shape == (2, 3, 32, 32) and torch.equal(b0, b2) and torch.equal(s0, s2)
    assert not torch.equal(batches[0][0][0], batches[0][0][1])  # blur differs from sharp


def test_validation_holds_out_whole_scenes_of_the_train_list(tmp_path: Path) -> None:
    root = make_realblur_j(tmp_path / "rb", scenes=5, per_scene=3)
    data = open_training_data(
        DataSection(dataset="realblur-j", root=str(root), val_fraction=0.25), seed=0
    )
    scene = lambda p: p.sharp.parent.parent.name  # noqa: E731
    train_scenes, val_scenes = {scene(p) for p in data.train}, {scene(p) for p in data.val}
    assert not train_scenes & val_scenes and len(data.val) >= 0.25 * 15
    assert "scene006" not in train_scenes | val_scenes  # the test split is never used
    assert len(data.train) + len(data.val) == 15
    assert not open_training_data(
        DataSection(dataset="realblur-j", root=str(root), val_fraction=0), 0
    ).val
    with pytest.raises(TrainingError, match="only one scene"):
        holdout_groups(["a", "a"], 0.5, 0)
    with pytest.raises(TrainingError, match="--root"):
        open_training_data(DataSection(dataset="realblur-j"), 0)


def test_photo_cache_stays_within_its_budget(tmp_path: Path) -> None:
    paths = [write_rgb(tmp_path / f"{i}.png", smooth_image(20, 20, i)) for i in range(3)]
    cache = PhotoCache(budget_bytes=2 * 20 * 20 * 3)
    for p in paths:
        cache.read(p)
    assert list(cache.items) == paths[1:] and cache.used == 2 * 1200
    assert PhotoCache(0).read(paths[0]).shape == (20, 20, 3)


def test_workers_start_after_opencv_used_threads_in_the_parent(tmp_path: Path) -> None:
    # OpenCV's thread pool does not survive fork(); a worker touching it used to hang forever
    make_photos(tmp_path / "photos", n=3)
    code = f"""
import time, cv2, numpy as np, torch
import subprocess
import sys
from pathlib import Path
from deblur_cli.training.config import DataSection
from deblur_cli.training.data import StreamSampler, SyntheticCrops, find_photos, make_loader
cv2.setNumThreads(2)
for _ in range(3):
    cv2.GaussianBlur(np.random.rand(2000, 2000, 3).astype(np.float32), (31, 31), 5)
time.sleep(2)  # the pool threads stop spinning and block: the state fork() copies badly
photos = find_photos(Path({str(tmp_path / "photos")!r}))
data = DataSection(dataset="synthetic", crop=32, synthetic={{"kernel_size": 9}})
stream = make_loader(SyntheticCrops(photos, data, 32, 0), StreamSampler(len(photos), 0, 2), 2, False)
print(tuple(next(stream)[0].shape), cv2.getNumThreads())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["(2,", "3,", "32,", "32)", "2"]
