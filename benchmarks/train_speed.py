"""Training speed of `deblur train`: optimizer steps/s and samples/s of CE-MLWNet (the loop's
own `optimizer_step`: forward, the seed's SIMO + wavelet + edge loss, backward, AdamW) per
width × precision × eager/compiled × memory format, on random batches so data loading is
excluded; then the synthetic camera-shake pipeline alone (pairs/s, per worker).

    python benchmarks/train_speed.py [--widths 32,16] [--crop 256] [--batch 4] [--steps 5]
        [--precisions fp32,bf16] [--compile] [--channels-last] [--device auto] [--threads N]
        [--workers 0,2] [--samples 32] [--photo-size 1500x2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import torch
from skimage import data as samples

from deblur_cli.training import RunOptions, resolve_recipe
from deblur_cli.training.data import StreamSampler, SyntheticCrops, find_photos, make_loader
from deblur_cli.training.distributed import DistEnv, resolve_device
from deblur_cli.training.loop import optimizer_step, setup_run

SOURCES = ["astronaut", "coffee", "chelsea", "rocket"]


def make_photos(folder: Path, size: tuple[int, int]) -> Path:
    """skimage sample pictures resized to phone-photo size, saved as JPEG (decode cost counts)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        img = getattr(samples, name)()
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"{name}.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    return folder


def _recipe(
    photos: Path,
    width: int,
    crop: int,
    batch: int,
    precision: str,
    compiled: bool,
    channels_last: bool,
) -> Any:
    sets = [
        f"model.dim={width}", f"data.crop={crop}", f"data.batch={batch}", "data.workers=0",
        "data.dataset=synthetic", "data.val_fraction=0", "train.global_batch=0",
        f'train.precision="{precision}"', f"train.compile={str(compiled).lower()}",
        f"train.channels_last={str(channels_last).lower()}",
    ]  # fmt: skip
    return resolve_recipe("ce-mlwnet-seed", sets, root=str(photos))


def time_steps(photos: Path, out: Path, device: torch.device, args: argparse.Namespace, width: int,
               precision: str, compiled: bool, channels_last: bool) -> dict[str, Any]:  # fmt: skip
    config = _recipe(photos, width, args.crop, args.batch, precision, compiled, channels_last)
    env = DistEnv(0, 1, 0, device)
    run = setup_run(config, RunOptions(out=out, overwrite=True, device=str(device)), env)
    g = torch.Generator().manual_seed(0)
    batch = (torch.rand(args.batch, 3, args.crop, args.crop, generator=g),) * 2
    stream = itertools.repeat(batch)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    start = time.perf_counter()
    for _ in range(args.warmup):
        optimizer_step(run, stream)
    sync()
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = optimizer_step(run, stream)
    float(loss[0])
    sync()
    seconds = (time.perf_counter() - start) / args.steps
    return {
        "width": width, "precision": precision, "compiled": compiled, "channels_last": channels_last,
        "crop": args.crop, "batch": args.batch, "steps_per_s": 1 / seconds,
        "samples_per_s": args.batch / seconds, "seconds_per_step": seconds,
        "warmup_seconds": warm, "parameters": run.plan.parameters,
    }  # fmt: skip


def time_pipeline(photos: Path, crop: int, workers: int, n: int) -> dict[str, Any]:
    config = _recipe(photos, 8, crop, 1, "fp32", False, False)
    dataset = SyntheticCrops(find_photos(photos), config.data, crop, seed=0)
    stream = make_loader(dataset, StreamSampler(len(dataset), 0, 1), workers, pin_memory=False)
    next(stream)  # worker start-up and the first decodes are not the steady state
    start = time.perf_counter()
    for _ in range(n):
        next(stream)
    rate = n / (time.perf_counter() - start)
    return {
        "workers": workers,
        "crop": crop,
        "pairs_per_s": rate,
        "pairs_per_s_per_worker": rate / max(workers, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--widths", default="32,16")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    p.add_argument("--channels-last", action="store_true", help="also time channels_last")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workers", default="0,2")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--photo-size", default="1500x2000")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device, 0)
    h, w = (int(v) for v in args.photo_size.split("x"))
    results: dict[str, Any] = {
        "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "steps": [], "data": [],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photos(Path(tmp) / "photos", (h, w))
        for width in (int(v) for v in args.widths.split(",") if v):
            for precision in args.precisions.split(","):
                for compiled in (False, True) if args.compile else (False,):
                    for cl in (False, True) if args.channels_last else (False,):
                        row = time_steps(
                            photos, Path(tmp) / "run", device, args, width, precision, compiled, cl
                        )
                        results["steps"].append(row)
                        print(
                            f"ce-mlwnet w{width} {precision:4s} {'compiled' if compiled else 'eager':8s} "
                            f"{'channels_last' if cl else 'contiguous':13s} {args.crop}px x{args.batch}: "
                            f"{row['steps_per_s']:.3f} steps/s, {row['samples_per_s']:.2f} samples/s "
                            f"(warm-up {row['warmup_seconds']:.0f} s)",
                            flush=True,
                        )
        for workers in (int(v) for v in args.workers.split(",") if v):
            row = time_pipeline(photos, args.crop, workers, args.samples)
            results["data"].append(row)
            print(
                f"synthetic pairs {args.crop}px from {h}x{w} JPEGs, {workers} workers: "
                f"{row['pairs_per_s']:.1f} pairs/s ({row['pairs_per_s_per_worker']:.1f} per worker)",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
