"""Training data: random crops of paired datasets or synthetic camera shake on sharp photos, the
8 dihedral augmentations, a held-out validation split of the train list, and the sample order.

Every sample is a pure function of (seed, epoch, index): its crop position, augmentation and
synthetic blur come from a generator seeded with those numbers, so the data do not depend on
the number of DataLoader workers or devices, and a resumed run sees exactly what an
uninterrupted one would. The order is a stream of per-epoch permutations consumed `batch`
samples at a time; a position in that stream is all a checkpoint needs to store.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..datasets import Pair, open_dataset, read_rgb
from ..defaults import IMAGE_SUFFIXES
from ..errors import TrainingError
from .config import DataSection

# Tags that keep the generator streams of different uses apart.
TRAIN_SAMPLE, VAL_SAMPLE, ORDER, HOLDOUT = 0, 1, 2, 3
SampleKey = tuple[int, int]  # (epoch, index into the training items)


def sample_rng(seed: int, tag: int, *numbers: int) -> np.random.Generator:
    return np.random.default_rng([seed, tag, *numbers])


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/transposes of an H×W×C array: bit 0 flips rows, bit 1 flips columns,
    bit 2 transposes (H↔W), §3.1."""
    if k & 4:
        image = image.transpose(1, 0, 2)
    if k & 1:
        image = image[::-1]
    if k & 2:
        image = image[:, ::-1]
    return image


def draw_augmentation(rng: np.random.Generator, mode: str) -> int:
    if mode == "dihedral":
        return int(rng.integers(8))
    if mode == "flip":
        return 2 * int(rng.integers(2))
    return 0


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mirror-pad the bottom/right of an image smaller than (height, width) (§3.6 bug 9)."""
    dh, dw = max(height - image.shape[0], 0), max(width - image.shape[1], 0)
    if dh or dw:
        image = np.pad(image, ((0, dh), (0, dw), (0, 0)), mode="symmetric")
    return image


def random_window(shape: Sequence[int], size: int, rng: np.random.Generator) -> tuple[int, int]:
    """Top-left of a uniform size×size window, drawn from the padded size."""
    h, w = max(shape[0], size), max(shape[1], size)
    return int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 or float in [0, 1] -> 3×H×W float32."""
    array = np.ascontiguousarray(image.transpose(2, 0, 1))
    tensor = torch.from_numpy(array)
    return tensor.float().div_(255.0) if array.dtype == np.uint8 else tensor.float()


class PairCrops(Dataset):
    """Random `crop` windows of paired images, the same window and transform for both sides.
    Images are read at each access: no per-worker cache (§3.6 bug 10)."""

    def __init__(self, pairs: Sequence[Pair], crop: int, augment: str, seed: int) -> None:
        self.pairs, self.crop, self.augment, self.seed = list(pairs), crop, augment, seed

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        rng = sample_rng(self.seed, TRAIN_SAMPLE, epoch, index)
        pair = self.pairs[index]
        blur, sharp = read_rgb(pair.blur), read_rgb(pair.sharp)
        if blur.shape != sharp.shape:
            raise TrainingError(f"{pair.blur}: size {blur.shape[:2]} differs from {pair.sharp}")
        top, left = random_window(blur.shape, self.crop, rng)
        k = draw_augmentation(rng, self.augment)
        out = []
        for image in (blur, sharp):
            image = pad_to(image, top + self.crop, left + self.crop)
            out.append(
                to_tensor(dihedral(image[top : top + self.crop, left : left + self.crop], k))
            )
        return out[0], out[1]


class PhotoCache:
    """Decoded photos (uint8) kept up to `budget_bytes`, least recently used dropped first."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.used = 0
        self.items: OrderedDict[Path, np.ndarray] = OrderedDict()

    def read(self, path: Path) -> np.ndarray:
        if path in self.items:
            self.items.move_to_end(path)
            return self.items[path]
        image = read_rgb(path)
        if image.nbytes <= self.budget:
            self.items[path] = image
            self.used += image.nbytes
            while self.used > self.budget:
                _, old = self.items.popitem(last=False)
                self.used -= old.nbytes
        return image


class SyntheticCrops(Dataset):
    """Synthetic camera-shake pairs from sharp photos (`training.synthetic.synthesize_pair`).

    A window of crop + 2·(kernel_size // 2) pixels (after an optional downscale drawn from
    `scale`) is blurred and then centre-cropped, so no output pixel sees the blur's border rule.
    """

    def __init__(self, photos: Sequence[Path], data: DataSection, crop: int, seed: int) -> None:
        from .synthetic import SynthConfig

        self.photos, self.crop, self.seed = list(photos), crop, seed
        self.augment, self.scale = data.augment, data.scale
        self.synth = SynthConfig(**data.synthetic)
        self.margin = self.synth.kernel_size // 2
        self.cache = PhotoCache(data.cache_mb << 20)

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        rng = sample_rng(self.seed, TRAIN_SAMPLE, epoch, index)
        return synthesize_crop(self.cache.read(self.photos[index]), self, self.crop, rng)


def synthesize_crop(
    photo: np.ndarray,
    source: SyntheticCrops,
    crop: int,
    rng: np.random.Generator,
    augment: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(blur, sharp) tensors of one random crop of `photo` (used for training and validation)."""
    from .synthetic import synthesize_pair

    side = crop + 2 * source.margin
    s = float(rng.uniform(*source.scale)) if source.scale[0] < source.scale[1] else source.scale[0]
    region = min(math.ceil(side / s), max(photo.shape[:2]))
    region = max(region, side)
    top, left = random_window(photo.shape, region, rng)
    window = pad_to(photo, top + region, left + region)[top : top + region, left : left + region]
    if region != side:
        window = cv2.resize(window, (side, side), interpolation=cv2.INTER_AREA)
    k = draw_augmentation(rng, source.augment) if augment else 0
    sharp = np.ascontiguousarray(dihedral(window, k), dtype=np.float32) / np.float32(255.0)
    blur, target, _ = synthesize_pair(sharp, rng, source.synth)
    m = source.margin
    return to_tensor(blur[m : m + crop, m : m + crop]), to_tensor(
        target[m : m + crop, m : m + crop]
    )


class StreamSampler:
    """Micro-batches of sample keys, forever, from global sample position `start`.

    The stream is the concatenation of per-epoch permutations of the n items; each micro-step
    consumes `batch × world` consecutive positions and this rank takes its `batch` of them, so
    the global order is the same for any number of devices (a deterministic, resumable
    DistributedSampler).
    """

    def __init__(
        self, n: int, seed: int, batch: int, world: int = 1, rank: int = 0, start: int = 0
    ) -> None:
        if n < 1:
            raise TrainingError("no training samples")
        self.n, self.seed, self.batch, self.world, self.rank = n, seed, batch, world, rank
        self.start = start
        self._epoch, self._perm = -1, np.empty(0, dtype=np.int64)

    def key(self, position: int) -> SampleKey:
        epoch, offset = divmod(position, self.n)
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, sample_rng(self.seed, ORDER, epoch).permutation(self.n)
        return epoch, int(self._perm[offset])

    def __iter__(self) -> Iterator[list[SampleKey]]:
        position = self.start + self.rank * self.batch
        while True:
            yield [self.key(position + j) for j in range(self.batch)]
            position += self.batch * self.world


def usable_workers(requested: int) -> int:
    """`requested` DataLoader workers, at most this process's share of the CPUs it may use
    (more workers than cores only add memory and contention)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)  # set by torchrun
    return min(requested, max(1, cpus // max(processes, 1)))


def make_loader(
    dataset: Dataset, sampler: StreamSampler, workers: int, pin_memory: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """An endless iterator of (blur, sharp) batches; `prefetch_factor` 2 bounds the memory
    held ahead at 2 batches per worker."""
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=2 if workers else None,
        # its own generator, so creating the iterator never draws from the global torch RNG
        generator=torch.Generator().manual_seed(sampler.seed),
    )
    if not workers:
        return iter(loader)
    # OpenCV's thread pool does not survive fork(): a worker that touches it deadlocks (seen
    # with cv2 calls in the parent before the loader started). Forking while it is shut down
    # leaves the workers single-threaded, as they should be: the workers are the parallelism.
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return iter(loader)  # starts the worker processes
    finally:
        cv2.setNumThreads(previous)


# ---------------------------------------------------------------------------------------------
# sources and the held-out split


@dataclass(frozen=True)
class TrainingData:
    """The training items (pairs, or photo paths for synthetic) and the held-out ones."""

    kind: str  # "paired" or "synthetic"
    dataset: str
    train: tuple[Any, ...]  # Pair, or Path for synthetic
    val: tuple[Any, ...]
    notes: tuple[str, ...] = ()


def find_photos(root: Path) -> list[Path]:
    """Image files under `root` (recursively), sorted for a stable order."""
    if not root.is_dir():
        raise TrainingError(f"{root}: not a folder of photos")
    photos = sorted(
        p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    if not photos:
        raise TrainingError(f"{root}: no photos ({', '.join(IMAGE_SUFFIXES)})")
    return photos


def holdout_groups(groups: Sequence[str], fraction: float, seed: int) -> list[bool]:
    """Which items go to validation: whole groups (scenes) in a seeded random order until at
    least `fraction` of the items are held out; at least one group stays for training."""
    names = sorted(set(groups))
    if fraction <= 0:
        return [False] * len(groups)
    if len(names) < 2:
        raise TrainingError(
            f"cannot hold out {fraction:.0%} for validation: only one scene/group; "
            "set data.val_fraction = 0"
        )
    order = [names[i] for i in sample_rng(seed, HOLDOUT).permutation(len(names))]
    sizes = {g: 0 for g in names}
    for g in groups:
        sizes[g] += 1
    chosen: set[str] = set()
    target = fraction * len(groups)
    for g in order[:-1]:
        if sum(sizes[c] for c in chosen) >= target:
            break
        chosen.add(g)
    return [g in chosen for g in groups]


def scene_of(pair: Pair, dataset: str) -> str:
    """RealBlur scene / GoPro sequence: the folder above `gt/` or `sharp/` (datasets §1-2)."""
    if dataset.startswith("realblur") or dataset == "gopro":
        return pair.sharp.parent.parent.name
    return pair.name


def open_training_data(data: DataSection, seed: int) -> TrainingData:
    """Load the recipe's dataset (train split) and split off the validation items."""
    if not data.root:
        raise TrainingError("no dataset root: pass --root or set data.root")
    root = Path(data.root).expanduser()
    if data.dataset == "synthetic":
        photos = find_photos(root)
        hold = holdout_groups([str(p) for p in photos], data.val_fraction, seed)
        keep = tuple(p for p, h in zip(photos, hold) if not h)
        return TrainingData(
            "synthetic", "synthetic", keep, tuple(p for p, h in zip(photos, hold) if h)
        )
    ds = open_dataset(root, dataset=data.dataset, split=data.split, gopro_blur=data.gopro_blur)
    if not ds.pairs:
        raise TrainingError(f"{ds.source}: no usable pairs")
    held = holdout_groups([scene_of(p, ds.name) for p in ds.pairs], data.val_fraction, seed)
    notes = tuple(str(s) for s in ds.skipped) + tuple(ds.notes)
    train = tuple(p for p, h in zip(ds.pairs, held) if not h)
    val = tuple(p for p, h in zip(ds.pairs, held) if h)
    return TrainingData("paired", ds.name, train, val, notes)


def crop_dataset(data: TrainingData, section: DataSection, crop: int, seed: int) -> Dataset:
    if data.kind == "synthetic":
        return SyntheticCrops(data.train, section, crop, seed)
    return PairCrops(data.train, crop, section.augment, seed)
