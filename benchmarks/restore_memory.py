"""Peak memory of `deblur restore` (read -> tiles -> model -> blend -> write) on big images.

Each size runs in a fresh process so its peak RSS (getrusage ru_maxrss) is its own. Random
weights (memory and time only; nothing is shown as a restored image). Usage:
    python benchmarks/restore_memory.py [--sizes 1,4,12,24] [--model ce-mlwnet] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _child(args: argparse.Namespace) -> None:
    import torch

    from deblur_cli.inference import (
        Job,
        OutputOptions,
        Restorer,
        TileSettings,
        keep_freed_memory,
        run_jobs,
    )
    from deblur_cli.models import create, get_spec

    keep_freed_memory()  # as `deblur restore` does on CPU
    torch.manual_seed(0)
    spec = get_spec(args.model)
    tiles = None if args.tile is None else TileSettings(args.tile, args.overlap)
    restorer = Restorer(create(spec.name), spec, device="cpu", tiles=tiles)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if args.src:
        job = Job(Path(args.src), Path(args.dst))
        (result,) = run_jobs(restorer, [job], OutputOptions(overwrite=True))
        assert result.status == "ok", result.error
        tiles_done = result.tiles
    else:
        tiles_done = 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"baseline_mb": baseline / 1024, "peak_mb": peak / 1024,
                      "seconds": time.perf_counter() - start, "tiles": tiles_done,
                      "tile": restorer.tiles.tile, "overlap": restorer.tiles.overlap}))  # fmt: skip


def _make_image(path: Path, megapixels: float) -> tuple[int, int]:
    import cv2

    w = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    h = int(round(megapixels * 1e6 / w))
    rng = np.random.default_rng(0)
    small = (rng.random((h // 8 + 1, w // 8 + 1, 3)) * 255).astype(np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)  # smooth, JPEG-friendly
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return h, w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,12,24", help="megapixels, comma-separated")
    parser.add_argument("--model", default="ce-mlwnet")
    parser.add_argument("--tile", type=int, default=None, help="default: the model's")
    parser.add_argument("--overlap", type=int, default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--src", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dst", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    def run_child(*extra: str) -> dict:
        cmd = [sys.executable, __file__, "--child", "--model", args.model, *extra]
        if args.tile is not None:
            cmd += ["--tile", str(args.tile), "--overlap", str(args.overlap or 0)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    rows = []
    idle = run_child()
    print(f"model loaded, no image: peak RSS {idle['peak_mb']:.0f} MiB", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for mp in [float(s) for s in args.sizes.split(",")]:
            src, dst = Path(tmp) / f"in_{mp}.jpg", Path(tmp) / f"out_{mp}.png"
            h, w = _make_image(src, mp)
            r = run_child("--src", str(src), "--dst", str(dst))
            rows.append({"megapixels": mp, "width": w, "height": h, **r})
            print(f"{mp:5.1f} MP ({w}x{h}): peak RSS {r['peak_mb']:7.0f} MiB, {r['tiles']} tiles "
                  f"of {r['tile']}/{r['overlap']}, {r['seconds']:.0f} s", flush=True)  # fmt: skip
            os.remove(dst)
    if args.json:
        env = {"cpu_threads": os.cpu_count(), "model": args.model, "date": time.strftime("%Y-%m-%d")}
        with open(args.json, "w") as f:
            json.dump({"environment": env, "idle": idle, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
