"""Default-model quality on the held-out photos (issue #13's quality target; a benchmark, not a test).

Each held-out photo (benchmarks/data/heldout/: crops of scikit-learn's china.jpg and flower.jpg,
never training data) is blurred at three strengths (kernel path length in px) with three kernel
families, `--repeats` kernels per cell, all from fixed seeds, then restored. The same seeds give
the same blurry inputs for every model, so two runs compare paired. Degradation is
`deblur_cli.training.synthetic.degrade` with 31×31 kernels, no highlight boost and no JPEG:

    strength   path length      family        kernel                     noise
    mild       U(3, 7) px       line          straight, random angle     none
    moderate   U(10, 18) px     shake         camera-shake random walk   none
    strong     U(20, 28) px     shake+noise   camera-shake random walk   a = 5e-4, b = 2e-3

PSNR (peak 255) and SSIM (`ssim3d`) from `deblur_cli.metrics`, blurry vs sharp and restored vs
sharp, per image and averaged per cell; an image is "made worse" when its restored PSNR is below
its blurry PSNR. The target line checks moderate shake+noise: mean gain >= 2 dB, none worse.
It also restores the real blurry photos of examples/ (no ground truth) and writes them, with a
side-by-side each and the held-out restorations of the first repeat, to --out-dir.

Usage:
    python benchmarks/default_model_quality.py                       # the default model
    python benchmarks/default_model_quality.py --weights runs/default-tiny/best.pt --json q.json
    python benchmarks/default_model_quality.py --model ce-mlwnet --repeats 1 --no-images
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "benchmarks" / "data" / "heldout"
EXAMPLES = ROOT / "examples"
REAL_PHOTOS = ["demo_01.jpg", "demo_02.jpg", "demo_03.jpg", "clock_motion.png"]

SEED = 2013  # issue 13; change it and every blurry input changes
KERNEL_SIZE = 31
STRENGTHS = {"mild": (3.0, 7.0), "moderate": (10.0, 18.0), "strong": (20.0, 28.0)}
MILD_NOISE = {"shot_noise": (0.0005, 0.0005), "read_noise": (0.002, 0.002)}
FAMILIES = {
    "line": {"line_probability": 1.0},
    "shake": {"line_probability": 0.0},
    "shake+noise": {"line_probability": 0.0, **MILD_NOISE},
}
TARGET_CELL = ("moderate", "shake+noise")
TARGET_GAIN_DB = 2.0
SSIM_VARIANT = "ssim3d"


@dataclass(frozen=True)
class Case:
    image: str
    strength: str
    family: str
    repeat: int
    seed: list[int]
    psnr_blurry: float
    psnr_restored: float
    ssim_blurry: float
    ssim_restored: float
    seconds: float

    @property
    def gain(self) -> float:
        return self.psnr_restored - self.psnr_blurry


def synth_config(strength: str, family: str):
    from deblur_cli.training.synthetic import SynthConfig

    low, high = STRENGTHS[strength]
    clean = {"shot_noise": (0.0, 0.0), "read_noise": (0.0, 0.0)}
    return SynthConfig(
        **{
            "kernel_size": KERNEL_SIZE,
            "min_length": low,
            "max_length": high,
            "saturation_boost": (1.0, 1.0),
            "jpeg_probability": 0.0,
            **clean,
            **FAMILIES[family],
        }
    )


def blurry_input(sharp: np.ndarray, seed: list[int], strength: str, family: str) -> np.ndarray:
    from deblur_cli.training.synthetic import degrade, random_kernel

    cfg = synth_config(strength, family)
    rng = np.random.default_rng(seed)
    return degrade(sharp, random_kernel(rng, cfg), rng, cfg)


def load_restorer(args: argparse.Namespace):
    import torch

    from deblur_cli.inference import Restorer
    from deblur_cli.loading import load_for_inference

    if args.threads:
        torch.set_num_threads(args.threads)
    ready = load_for_inference(args.model, args.weights)
    restorer = Restorer(ready.model, ready.spec, device=args.device)
    return ready, restorer


def score_heldout(args: argparse.Namespace, restorer, out_dir: Path | None) -> list[Case]:
    from deblur_cli.files import read_image, write_image
    from deblur_cli.metrics import psnr, ssim

    photos = sorted(HELDOUT.glob("*.png"))
    if not photos:
        sys.exit(f"error: no held-out photos in {HELDOUT} (run tools/fetch_heldout.py)")
    cases = []
    for i, path in enumerate(photos):
        sharp, _ = read_image(path)
        for s, strength in enumerate(STRENGTHS):
            for f, family in enumerate(FAMILIES):
                for repeat in range(args.repeats):
                    seed = [SEED, i, s, f, repeat]
                    blurry = blurry_input(sharp, seed, strength, family)
                    start = time.perf_counter()
                    restored, _ = restorer.restore(blurry)
                    seconds = time.perf_counter() - start
                    case = Case(
                        image=path.stem,
                        strength=strength,
                        family=family,
                        repeat=repeat,
                        seed=seed,
                        psnr_blurry=psnr(blurry, sharp),
                        psnr_restored=psnr(restored, sharp),
                        ssim_blurry=ssim(blurry, sharp, SSIM_VARIANT),
                        ssim_restored=ssim(restored, sharp, SSIM_VARIANT),
                        seconds=seconds,
                    )
                    cases.append(case)
                    status(
                        f"{path.stem} {strength} {family} #{repeat}: "
                        f"{case.psnr_blurry:.2f} -> {case.psnr_restored:.2f} dB"
                    )
                    if out_dir is not None and repeat == 0:
                        stem = f"heldout_{path.stem}_{strength}_{family.replace('+', '_')}"
                        write_image(out_dir / f"{stem}_blurry.png", blurry)
                        write_image(out_dir / f"{stem}_restored.png", restored)
    return cases


def restore_real_photos(restorer, out_dir: Path) -> list[dict[str, object]]:
    """The real blurry photos of examples/ (no ground truth): restored and side-by-side."""
    from deblur_cli.files import read_image, write_image
    from deblur_cli.inference import make_compare

    written = []
    for name in REAL_PHOTOS:
        path = EXAMPLES / name
        if not path.is_file():
            status(f"warning: {path} missing, skipped")
            continue
        blurry, _ = read_image(path)
        start = time.perf_counter()
        restored, _ = restorer.restore(blurry)
        seconds = time.perf_counter() - start
        restored_path = write_image(out_dir / f"{path.stem}_restored.png", restored)
        compare_path = make_compare(blurry, restored, out_dir / f"{path.stem}_compare.png")
        written.append(
            {
                "image": name,
                "seconds": seconds,
                "restored": str(restored_path),
                "compare": str(compare_path),
            }
        )
        status(f"{name}: restored in {seconds:.1f} s -> {compare_path}")
    return written


def summarise(cases: list[Case]) -> list[dict[str, object]]:
    """Mean figures per (strength, family) cell, per image and over all images."""
    rows = []
    images = sorted({c.image for c in cases})
    for strength in STRENGTHS:
        for family in FAMILIES:
            cell = [c for c in cases if c.strength == strength and c.family == family]
            for image in [*images, "mean"]:
                group = cell if image == "mean" else [c for c in cell if c.image == image]
                if group:
                    rows.append(cell_row(strength, family, image, group))
    return rows


def cell_row(strength: str, family: str, image: str, group: list[Case]) -> dict[str, object]:
    return {
        "strength": strength,
        "family": family,
        "image": image,
        "n": len(group),
        "psnr_blurry": statistics.fmean(c.psnr_blurry for c in group),
        "psnr_restored": statistics.fmean(c.psnr_restored for c in group),
        "gain_db": statistics.fmean(c.gain for c in group),
        "min_gain_db": min(c.gain for c in group),
        "ssim_blurry": statistics.fmean(c.ssim_blurry for c in group),
        "ssim_restored": statistics.fmean(c.ssim_restored for c in group),
        "worse": sum(c.gain < 0 for c in group),
    }


def verdict(cases: list[Case]) -> dict[str, object]:
    worse = [c for c in cases if c.gain < 0]
    target = [c for c in cases if (c.strength, c.family) == TARGET_CELL]
    target_gain = statistics.fmean(c.gain for c in target)
    target_worse = sum(c.gain < 0 for c in target)
    return {
        "images_scored": len(cases),
        "made_worse": len(worse),
        "made_worse_cases": [f"{c.image} {c.strength} {c.family} #{c.repeat}" for c in worse],
        "ssim_lowered": sum(c.ssim_restored < c.ssim_blurry for c in cases),
        "mean_gain_db": statistics.fmean(c.gain for c in cases),
        "target_cell": "/".join(TARGET_CELL),
        "target_mean_gain_db": target_gain,
        "target_met": target_gain >= TARGET_GAIN_DB and target_worse == 0,
    }


def render_table(rows: list[dict[str, object]], result: dict[str, object], title: str) -> str:
    head = (
        f"{'strength':9} {'family':12} {'image':7} {'n':>2}  {'PSNR blurry':>11} "
        f"{'restored':>8} {'gain':>6} {'min':>6}  {'SSIM blurry':>11} {'restored':>8}  worse"
    )
    lines = [title, head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['strength']:9} {r['family']:12} {r['image']:7} {r['n']:>2}  "
            f"{r['psnr_blurry']:11.2f} {r['psnr_restored']:8.2f} {r['gain_db']:+6.2f} "
            f"{r['min_gain_db']:+6.2f}  {r['ssim_blurry']:11.4f} {r['ssim_restored']:8.4f}  "
            f"{r['worse']}"
        )
        if r["image"] == "mean":
            lines.append("")
    worse = result["made_worse"]
    lines.append(
        f"no image made worse: {'yes' if worse == 0 else 'NO'} "
        f"({worse} of {result['images_scored']} restored below their blurry PSNR; "
        f"SSIM lowered on {result['ssim_lowered']})"
    )
    lines.append(
        f"target ({result['target_cell']}: mean gain >= {TARGET_GAIN_DB} dB, none worse): "
        f"{'met' if result['target_met'] else 'NOT met'} "
        f"(mean gain {result['target_mean_gain_db']:+.2f} dB)"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="registered model (default: the default model)")
    parser.add_argument("--weights", help="registry name or checkpoint file")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=2, help="kernels per cell and image")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument(
        "--out-dir", type=Path, default=ROOT / "out" / "quality", help="restored images"
    )
    parser.add_argument("--no-images", action="store_true", help="write no images")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from deblur_cli.errors import DeblurError

    out_dir = None if args.no_images else args.out_dir
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    try:
        ready, restorer = load_restorer(args)
        status(f"{ready.spec.name} ({ready.weights}) on {restorer.device}")
        start = time.perf_counter()
        cases = score_heldout(args, restorer, out_dir)
        real = restore_real_photos(restorer, out_dir) if out_dir is not None else []
    except DeblurError as exc:
        sys.exit(f"error: {exc}")
    rows = summarise(cases)
    result = verdict(cases)
    title = f"{ready.spec.name} ({ready.weights}): held-out PSNR (dB) / SSIM, blurry vs restored"
    print(render_table(rows, result, title))
    if out_dir is not None:
        print(f"images: {out_dir}")
    if args.json:
        report = {
            "model": ready.spec.name,
            "weights": ready.weights,
            "config": ready.config,
            "device": str(restorer.device),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "seed": SEED,
            "repeats": args.repeats,
            "kernel_size": KERNEL_SIZE,
            "strengths": STRENGTHS,
            "families": FAMILIES,
            "ssim_variant": SSIM_VARIANT,
            "seconds": time.perf_counter() - start,
            "verdict": result,
            "cells": rows,
            "cases": [{**asdict(c), "gain_db": c.gain} for c in cases],
            "real_photos": real,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"json: {args.json}")
    return 0


def status(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
