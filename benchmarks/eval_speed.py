"""Per-image cost of the RealBlur metric (protocols.md §1.1) in `deblur_cli.metrics` versus a
straight serial transcription of the official script's steps with the same libraries, on
RealBlur-sized synthetic pairs; then the speed-up of `evaluate(workers=2)` over `workers=1`.

    python benchmarks/eval_speed.py [--images 8] [--iters N (default: defaults.ECC_ITERS)]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data, io
from skimage.metrics import structural_similarity

from deblur_cli.datasets import REALBLUR_FOLDERS, load_realblur, read_rgb
from deblur_cli.defaults import ECC_ITERS
from deblur_cli.evaluation import default_protocol, evaluate
from deblur_cli.metrics import library_versions, score_realblur

# H×W of real RealBlur-J test ground truths (protocols.md §6.1-6.2)
SIZES = [(760, 657), (752, 667), (763, 667), (760, 666), (762, 669)]
SOURCES = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"]


def make_dataset(root: Path, n: int) -> Path:
    """Fake RealBlur-J tree + list at `root`, and a predictions folder with official names:
    GT = a resized skimage sample; prediction = GT under a small rotation/shift/scale, mildly
    blurred, with noise and a slight gain change, saved as 8-bit PNG."""
    folder = REALBLUR_FOLDERS["realblur-j"]
    preds = root / "preds"
    preds.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        h, w = SIZES[i % len(SIZES)]
        src = getattr(data, SOURCES[i % len(SOURCES)])()[..., :3]
        gt = cv2.resize(src, (w, h), interpolation=cv2.INTER_CUBIC)
        gt = np.roll(gt, 37 * i, axis=1)  # different content for repeated sources
        scene = f"scene{i + 1:03d}"
        for kind, img in (("gt", gt), ("blur", cv2.GaussianBlur(gt, (9, 9), 0))):
            path = root / folder / scene / kind / f"{kind}_1.png"
            path.parent.mkdir(parents=True)
            cv2.imwrite(str(path), img[..., ::-1])
        lines.append(f"{folder}/{scene}/gt/gt_1.png {folder}/{scene}/blur/blur_1.png")
        f = gt.astype(np.float32) / 255
        m = cv2.getRotationMatrix2D(
            (w / 2, h / 2), rng.uniform(-0.3, 0.3), rng.uniform(0.999, 1.001)
        )
        m[:, 2] += rng.uniform(-1.5, 1.5, 2)
        p = cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        p = cv2.GaussianBlur(p, (3, 3), 0) * rng.uniform(0.97, 1.03)
        p = p + rng.normal(0, 0.01, p.shape).astype(np.float32)
        pred = np.floor(np.clip(p, 0, 1) * 255 + 0.5).astype(np.uint8)
        cv2.imwrite(str(preds / f"{scene}_1.png"), pred[..., ::-1])
    (root / "RealBlur_J_test_list.txt").write_bytes(" \n".join(lines).encode())
    return preds


def official_image(pred_path: Path, gt_path: Path, iters: int) -> tuple[float, float, list[float]]:
    """The official script's per-image steps (evaluation_RealBlur_ecc.py), serially; skimage
    gets float64 input as 0.17.2 cast it. Returns (psnr, ssim, [read, align, metric] s)."""
    t_read = time.perf_counter()
    deblurred = io.imread(pred_path).astype("float32") / 255
    gt = io.imread(gt_path).astype("float32") / 255
    t0 = time.perf_counter()
    z, x = deblurred, gt
    zs = (np.sum(x * z) / np.sum(z * z)) * z
    warp = np.eye(3, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iters, 0)
    _, warp = cv2.findTransformECC(
        cv2.cvtColor(x, cv2.COLOR_RGB2GRAY),
        cv2.cvtColor(zs, cv2.COLOR_RGB2GRAY),
        warp,
        cv2.MOTION_HOMOGRAPHY,
        criteria,
        inputMask=None,
        gaussFiltSize=5,
    )
    h, w = x.shape[:2]
    zr = cv2.warpPerspective(
        zs,
        warp,
        (w, h),
        flags=cv2.INTER_CUBIC + cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )
    cr = cv2.warpPerspective(
        np.ones_like(zs, dtype="float32"),
        warp,
        (w, h),
        flags=cv2.INTER_NEAREST + cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    zr, xr = zr * cr, x * cr
    t1 = time.perf_counter()
    _, smap = structural_similarity(
        xr.astype(np.float64),
        zr.astype(np.float64),
        channel_axis=-1,
        gaussian_weights=True,
        use_sample_covariance=False,
        data_range=1.0,
        full=True,
    )
    smap = (smap * cr)[5:-5, 5:-5, :]
    crop = cr[5:-5, 5:-5, :]
    ssim = float(np.mean(smap.sum(axis=0).sum(axis=0) / crop.sum(axis=0).sum(axis=0)))
    err = np.sum((xr - zr) ** 2, dtype=np.float64) / np.sum(cr)
    psnr = float(10 * np.log10(1 / err))
    return psnr, ssim, [t0 - t_read, t1 - t0, time.perf_counter() - t1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--iters", type=int, default=ECC_ITERS)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # per-core cost, like one worker process (§1.6)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        preds = make_dataset(root, args.images)
        ds = load_realblur(root, "realblur-j", "test")

        off: list[list[float]] = []  # per image: read, align, metric seconds
        mine: list[list[float]] = []
        d_psnr, d_ssim = [], []
        for pair in ds.pairs:
            pred_path = preds / pair.name
            o_psnr, o_ssim, o_times = official_image(pred_path, pair.sharp, args.iters)
            off.append(o_times)

            t0 = time.perf_counter()
            pred, gt = read_rgb(pred_path), read_rgb(pair.sharp)
            t1 = time.perf_counter()
            score = score_realblur(pred, gt, ecc_iters=args.iters)
            mine.append([t1 - t0, score.align_seconds, score.metric_seconds])
            d_psnr.append(abs(score.psnr - o_psnr))
            d_ssim.append(abs(score.ssim - o_ssim))

        walls = {}
        protocol = default_protocol("realblur-j", ecc_iters=args.iters)
        for workers in (1, 2):
            t0 = time.perf_counter()
            report = evaluate(ds, preds, workers=workers, protocol=protocol)
            walls[workers] = time.perf_counter() - t0
            assert report.count == args.images

    def ms(rows: list[list[float]], col: int | None) -> float:
        return 1000 * statistics.median(sum(r) if col is None else r[col] for r in rows)

    print(
        f"libraries: {library_versions()}; cpu cores: {os.cpu_count()}; "
        f"load average after the run: {os.getloadavg()[0]:.2f}; "
        f"{args.images} images of ~760x660, ECC {args.iters} iterations, OpenCV 1 thread"
    )
    print("per image, median ms        official-serial  deblur_cli")
    for label, col in (
        ("read 2 PNGs", 0),
        ("gain+ECC+warps", 1),
        ("PSNR+SSIM", 2),
        ("total", None),
    ):
        print(f"  {label:<26}{ms(off, col):10.1f}{ms(mine, col):12.1f}")
    print(f"  speed-up (total)          {ms(off, None) / ms(mine, None):10.3f}x")
    print(f"max |dPSNR| {max(d_psnr):.2e} dB, max |dSSIM| {max(d_ssim):.2e} vs the official steps")
    print(
        f"evaluate(): workers=1 {walls[1]:.2f} s, workers=2 {walls[2]:.2f} s "
        f"-> speed-up {walls[1] / walls[2]:.2f}x ({args.images} images, incl. process start)"
    )


if __name__ == "__main__":
    main()
