"""Restore speed: the default path vs the seed-compatible path, at equal tiles, in one run.

Default path   = `deblur restore` defaults: even placement, edge-aware cosine blend, and the
                 Restorer's defaults for the device (channels_last on CPU).
Seed path      = the seed's procedure: --placement seed --blend hamming --tile-batch 1, fp32,
                 NCHW memory format (protocols §2.1).

Random weights (timing only; nothing here is shown as a restored image). Usage:
    python benchmarks/restore_speed.py [--device cpu|cuda] [--repeats 3] [--json out.json]
    python benchmarks/restore_speed.py --device cuda --gpu-matrix   # fp32/bf16/fp16 x batch 1/8
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from deblur_cli.inference import Restorer, TileSettings
from deblur_cli.models import create, get_spec

SIZE = (760, 657)  # a typical RealBlur-J image (protocols §2.1)


def _time_restore(restorer: Restorer, image: np.ndarray, repeats: int) -> float:
    restorer.restore(image)  # warm-up (allocations, cudnn autotune, thread pools)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _, stats = restorer.restore(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ce-mlwnet")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--gpu-matrix", action="store_true", help="precision x tile-batch table")
    parser.add_argument("--json", default=None, help="write the results here too")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    spec = get_spec(args.model)
    torch.manual_seed(0)
    model = create(spec.name)
    image = np.random.RandomState(0).rand(*SIZE, 3).astype(np.float32)
    rows = []
    settings = [(512, 256), (256, 128), (0, 0)]
    seed_model = copy.deepcopy(model)  # the default path converts its model's memory format
    for tile, overlap in settings:
        default = Restorer(model, spec, device=args.device, tiles=TileSettings(tile, overlap))
        seed_tiles = TileSettings(tile, overlap, tile_batch=1, placement="seed", blend="hamming")
        seed = Restorer(seed_model, spec, device=args.device, tiles=seed_tiles, channels_last=False)
        t_default = _time_restore(default, image, args.repeats)
        t_seed = _time_restore(seed, image, args.repeats)
        rows.append({
            "tile": f"{tile}/{overlap}" if tile else "whole image",
            "tiles": default.count_tiles(*SIZE),
            "default_s": t_default,
            "seed_s": t_seed,
            "speedup": t_seed / t_default,
        })  # fmt: skip
        print(f"{rows[-1]['tile']:>12}  tiles {rows[-1]['tiles']:>3}  default {t_default:7.3f} s"
              f"  seed {t_seed:7.3f} s  ratio {t_seed / t_default:5.2f}x", flush=True)  # fmt: skip

    matrix = []
    if args.gpu_matrix:
        base = TileSettings(512, 256)
        for precision in ("fp32", "bf16", "fp16"):
            for batch in (1, 8):
                r = Restorer(model, spec, device=args.device, precision=precision,
                             tiles=replace(base, tile_batch=batch))  # fmt: skip
                big = np.random.RandomState(1).rand(1440, 2560, 3).astype(np.float32)
                t = _time_restore(r, big, args.repeats)
                matrix.append({"precision": precision, "tile_batch": batch, "image": "2560x1440",
                               "tiles": r.count_tiles(1440, 2560), "seconds": t})  # fmt: skip
                print(f"{precision} batch {batch}: {t:.3f} s for 2560x1440 "
                      f"({r.count_tiles(1440, 2560)} tiles of 512/256)", flush=True)  # fmt: skip

    env = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "model": spec.name,
        "image": f"{SIZE[1]}x{SIZE[0]}",
        "repeats": args.repeats,
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "rows": rows, "gpu_matrix": matrix}, f, indent=2)


if __name__ == "__main__":
    main()
