"""Rebuild the held-out evaluation photos in benchmarks/data/heldout/ from scikit-learn's two
sample images, without making scikit-learn a dependency.

`china.jpg` and `flower.jpg` are read straight out of a scikit-learn wheel (fetched with
`pip download scikit-learn --no-deps`, or given with --wheel) and checked against their known
sha256; a 512×427 window of each is written as PNG. The training photos never include them
(tools/fetch_training_photos.py refuses the names). Licence: CC BY 2.0, see the NOTICE file
written next to them. This tool is not part of the installed package. Usage:
    python tools/fetch_heldout.py [--wheel scikit_learn-*.whl] [--out benchmarks/data/heldout]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

# name: (sha256 of the JPEG in the wheel, crop as (x, y, width, height)). The originals are
# 640×427 (Flickr "z" size); the windows keep the pagoda and trees, and the whole dahlia.
SOURCES = {
    "china": (
        "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
        (0, 0, 512, 427),
    ),
    "flower": (
        "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
        (64, 0, 512, 427),
    ),
}
MEMBER = "sklearn/datasets/images/{}.jpg"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a scikit-learn wheel already on disk")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/data/heldout"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            jpegs = {name: archive.read(MEMBER.format(name)) for name in SOURCES}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in jpegs.items():
        digest, (x, y, w, h) = SOURCES[name]
        if hashlib.sha256(data).hexdigest() != digest:
            sys.exit(f"error: {name}.jpg in {wheel.name} is not the known image (sha256 differs)")
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        crop = np.ascontiguousarray(image[y : y + h, x : x + w])
        if crop.shape[:2] != (h, w):
            sys.exit(f"error: {name}.jpg is {image.shape[1]}×{image.shape[0]}, too small to crop")
        path = args.out / f"{name}.png"
        if not cv2.imwrite(str(path), crop):
            sys.exit(f"error: cannot write {path}")
        sys.stdout.write(f"{path}  ({w}×{h} from x={x}, y={y} of {name}.jpg)\n")
    return 0


def download_wheel(folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "scikit-learn", "--no-deps", "-d", str(folder)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(folder.glob("scikit_learn-*.whl"))
    if result.returncode != 0 or not wheels:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        sys.exit(f"error: pip download scikit-learn failed: {tail[0]} (or pass --wheel)")
    return wheels[0]


if __name__ == "__main__":
    sys.exit(main())
