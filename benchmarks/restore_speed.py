"""Restore speed: the default path vs the seed-compatible path, at equal tiles, in one run.

Default path   = `deblur restore` defaults: even placement, edge-aware cosine blend and the
                 Restorer's defaults for the device (on CPU: channels_last and glibc keeping
                 freed memory for reuse).
Seed path      = the seed's procedure: --placement seed --blend hamming --tile-batch 1, fp32,
                 NCHW memory format, default allocator (protocols §2.1).

Each path runs in its own process (the allocator setting is process-wide); the two alternate
`--rounds` times per tile setting and the median restore time of each is compared. Random
weights (timing only; nothing here is shown as a restored image). Usage:
    python benchmarks/restore_speed.py [--device cpu|cuda] [--rounds 2] [--json out.json]
    python benchmarks/restore_speed.py --device cuda --gpu-matrix   # fp32/bf16/fp16 x batch 1/8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np

SIZE = (760, 657)  # a typical RealBlur-J image (protocols §2.1)
SETTINGS = [(512, 256), (256, 128), (0, 0)]


def _restorer(args: argparse.Namespace, path: str, tile: int, overlap: int, **extra):
    import torch

    from deblur_cli.inference import Restorer, TileSettings, keep_freed_memory
    from deblur_cli.models import create, get_spec

    if args.device == "cpu":
        keep_freed_memory()  # as `deblur restore` does; the seed path opts out through the env
    spec = get_spec(args.model)
    torch.manual_seed(0)
    model = create(spec.name)
    if path == "seed":
        tiles = TileSettings(tile, overlap, tile_batch=1, placement="seed", blend="hamming")
        return Restorer(model, spec, device=args.device, tiles=tiles, channels_last=False)
    return Restorer(model, spec, device=args.device, tiles=TileSettings(tile, overlap), **extra)


def _time(restorer, image: np.ndarray, repeats: int) -> float:
    restorer.restore(image)  # warm-up (allocations, cudnn autotune, thread pools)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        restorer.restore(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _child(args: argparse.Namespace) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    image = np.random.RandomState(0).rand(*SIZE, 3).astype(np.float32)
    r = _restorer(args, args.path, args.tile, args.overlap)
    print(json.dumps({"seconds": _time(r, image, args.repeats), "tiles": r.count_tiles(*SIZE)}))


def _run_child(args: argparse.Namespace, path: str, tile: int, overlap: int) -> dict:
    env = dict(os.environ)
    if path == "seed":
        env["DEBLUR_KEEP_FREED_MEMORY"] = "0"
    cmd = [sys.executable, __file__, "--child", "--path", path, "--tile", str(tile),
           "--overlap", str(overlap), "--model", args.model, "--device", args.device,
           "--repeats", str(args.repeats)]  # fmt: skip
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _gpu_matrix(args: argparse.Namespace) -> list[dict]:
    from deblur_cli.inference import TileSettings

    rows = []
    big = np.random.RandomState(1).rand(1440, 2560, 3).astype(np.float32)
    for precision in ("fp32", "bf16", "fp16"):
        for batch in (1, 8):
            r = _restorer(args, "default", 512, 256, precision=precision)
            r.tiles = replace(TileSettings(512, 256), tile_batch=batch)
            t = _time(r, big, args.repeats)
            rows.append({"precision": precision, "tile_batch": batch, "image": "2560x1440",
                         "tiles": r.count_tiles(1440, 2560), "seconds": t})  # fmt: skip
            print(f"{precision} tile batch {batch}: {t:.3f} s for 2560x1440 "
                  f"({rows[-1]['tiles']} tiles of 512/256)", flush=True)  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ce-mlwnet")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="timed restores per process")
    parser.add_argument("--rounds", type=int, default=2, help="alternating processes per path")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--gpu-matrix", action="store_true", help="precision x tile-batch table")
    parser.add_argument("--json", default=None, help="write the results here too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--tile", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--overlap", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    rows = []
    for tile, overlap in SETTINGS:
        runs = {"default": [], "seed": []}
        for _ in range(args.rounds):
            for path in ("seed", "default"):
                result = _run_child(args, path, tile, overlap)
                runs[path].append(result["seconds"])
        t_default, t_seed = statistics.median(runs["default"]), statistics.median(runs["seed"])
        rows.append({"tile": f"{tile}/{overlap}" if tile else "whole image",
                     "tiles": result["tiles"], "default_s": t_default, "seed_s": t_seed,
                     "speedup": t_seed / t_default, "runs": runs})  # fmt: skip
        print(f"{rows[-1]['tile']:>12}  tiles {result['tiles']:>3}  default {t_default:7.3f} s"
              f"  seed {t_seed:7.3f} s  ratio {t_seed / t_default:5.2f}x", flush=True)  # fmt: skip
    matrix = _gpu_matrix(args) if args.gpu_matrix else []

    import torch

    env = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": args.threads or torch.get_num_threads(),
        "model": args.model,
        "image": f"{SIZE[1]}x{SIZE[0]}",
        "repeats_per_process": args.repeats,
        "rounds": args.rounds,
        "date": time.strftime("%Y-%m-%d"),
    }  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "rows": rows, "gpu_matrix": matrix}, f, indent=2)


if __name__ == "__main__":
    main()
