"""Regenerate the two synthetic examples in examples/ from the held-out crops, bit-identically.

examples/china_line_blur.png   = benchmarks/data/heldout/china.png, straight-line kernel
examples/flower_shake_blur.png = benchmarks/data/heldout/flower.png, camera-shake kernel

Both go through `deblur_cli.training.synthetic.degrade` (linear light, true convolution with
reflected borders, Poisson-Gaussian noise, sRGB, 8-bit) with the settings below and a fixed
seed; examples/README.md repeats them. `--check` compares the files on disk with a fresh
rendering (pixel for pixel) instead of writing. The kernels are also written as PNGs
(`--kernels DIR`, scaled so the brightest tap is white) for the docs. Usage:
    python tools/make_examples.py [--check] [--kernels DIR]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deblur_cli.files import read_image, write_image
from deblur_cli.training.synthetic import SynthConfig, degrade, line_kernel, random_kernel

HELDOUT = Path("benchmarks/data/heldout")
EXAMPLES = Path("examples")

# Mild sensor noise, no highlight boost, no JPEG: the blur is the thing to look at.
MILD_NOISE = {
    "kernel_size": 31,
    "saturation_boost": (1.0, 1.0),
    "shot_noise": (0.0005, 0.0005),
    "read_noise": (0.002, 0.002),
    "jpeg_probability": 0.0,
}


@dataclass(frozen=True)
class Example:
    output: str
    source: str
    seed: int
    line: tuple[float, float] | None  # (length px, angle degrees) for a straight kernel
    shake_length: float  # path length of a shake kernel (when `line` is None)


EXAMPLE_LIST = [
    Example("china_line_blur.png", "china.png", seed=1301, line=(15.0, 30.0), shake_length=0),
    Example("flower_shake_blur.png", "flower.png", seed=1302, line=None, shake_length=17.0),
]


def render(example: Example) -> tuple[np.ndarray, np.ndarray]:
    """(blurred image, kernel) of one example; the seed drives the kernel (shake only) and then
    the noise, in that order."""
    sharp, _ = read_image(HELDOUT / example.source)
    rng = np.random.default_rng(example.seed)
    if example.line is not None:
        cfg = SynthConfig(**MILD_NOISE)
        length, angle = example.line
        kernel = line_kernel(length, angle, cfg.kernel_size)
    else:
        length = example.shake_length
        cfg = SynthConfig(**MILD_NOISE, min_length=length, max_length=length, line_probability=0)
        kernel = random_kernel(rng, cfg)
    return degrade(sharp, kernel, rng, cfg), kernel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--kernels", type=Path, help="also write the kernels as PNGs here")
    args = parser.parse_args(argv)
    failures = 0
    for example in EXAMPLE_LIST:
        blurred, kernel = render(example)
        path = EXAMPLES / example.output
        if args.check:
            on_disk, _ = read_image(path)
            same = on_disk.shape == blurred.shape and np.array_equal(on_disk, blurred)
            failures += not same
            sys.stdout.write(f"{path}: {'identical' if same else 'DIFFERS'}\n")
        else:
            write_image(path, blurred)
            sys.stdout.write(f"{path}\n")
        if args.kernels:
            args.kernels.mkdir(parents=True, exist_ok=True)
            picture = np.kron(kernel / kernel.max(), np.ones((8, 8), np.float32))
            write_image(args.kernels / example.output.replace("_blur", "_kernel"), picture)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
