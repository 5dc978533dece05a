"""Whole-image restore speed per model and engine on CPU, and bf16 autocast quality vs fp32.

Engines (each where available):
  eager-fp32        the default eager path (FFTformer/HybridNet: matrix-form patch FFTs)
  eager-torchfft    the same with the published torch.fft patch transforms (FFT models only)
  eager-cl          eager with channels_last parameters and input
  compile           torch.compile (inductor); eager fallback recorded if it cannot compile
  onnxruntime       `deblur export` (static, per size, verified) run in ONNX Runtime
  openvino          the same ONNX file compiled by OpenVINO for CPU
  seed              the authors' network code (FFTformer: kkkls/FFTformer fftformer_arch.py,
                    given with --seed-fftformer; never shipped with deblur), same weights

A "restore" is reflect-pad bottom/right to the size multiple, forward, crop: the whole-image
mode of `deblur restore --tile 0`. Engines are timed in interleaved rounds (one forward of each
per round) so that load from other processes hits all of them alike; the median is reported
with the min, and the max |output - eager-fp32| on the same input. Weights: the published ones
when cached, else a fixed random perturbation of the initial weights (timing does not depend on
values; the output differences and bf16 PSNR are then those of untrained networks).

bf16: PSNR of the bf16-autocast output against the fp32 output on a blurred 256x256 crop of
skimage's astronaut, and both times.

    python benchmarks/engine_speed.py --models ce-mlwnet --sizes 256x256,512x512,760x657
    python benchmarks/engine_speed.py --models fftformer --sizes 256x256 --iters 2 \\
        --seed-fftformer /path/to/fftformer_arch.py
Results merge into docs/benchmark-data/cpu/engine_speed.json (keyed by model, engine, size).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deblur_cli.inference import keep_freed_memory, to_channels_last
from deblur_cli.models import create, get_spec, list_models
from deblur_cli.models.blocks import DFFN, set_fft_impl

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmark-data" / "cpu" / "engine_speed.json"
ENGINES = ["eager-fp32", "eager-torchfft", "eager-cl", "compile", "onnxruntime", "openvino", "seed"]
Runner = Callable[[torch.Tensor], torch.Tensor]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(list_models()))
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--sizes", default="256x256,512x512,760x657")
    p.add_argument("--iters", type=int, default=3, help="timed rounds per size")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed-fftformer", type=Path, default=None, help="the official fftformer_arch.py")
    p.add_argument("--no-bf16", action="store_true", help="skip the bf16 quality/speed part")
    p.add_argument("--weights", default=None, help="checkpoint or weights name (one model only)")
    p.add_argument("--out", type=Path, default=OUT)
    return p.parse_args()


# ------------------------------------------------------------------------------------------
# Models and inputs


def build(name: str, weights: str | None = None) -> tuple[nn.Module, str]:
    """`weights` if given; else the published weights if cached, else a fixed perturbation of
    the initial weights."""
    if weights is not None:
        from deblur_cli.inference import load_for_inference

        return load_for_inference(model=name, weights=weights).model.eval(), weights
    with contextlib.suppress(Exception):
        from deblur_cli.inference import default_weights, load_for_inference
        from deblur_cli.weights import locate

        entry = default_weights(name)
        if locate(entry.name).path.is_file():
            return load_for_inference(model=name).model.eval(), entry.name
    torch.manual_seed(0)
    model = create(name).eval()
    with torch.no_grad():
        for key, p in model.named_parameters():
            if key.endswith(("beta", "gamma")):
                p.normal_(0.0, 0.1)  # zero-initialised residual scales: make every block act
            elif key.endswith(".fft"):
                p.normal_(1.0, 0.2)  # non-Hermitian gains, as trained ones are
    return model, "random-perturbed"


def padded_restore(forward: Runner, multiple: int) -> Runner:
    def restore(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = forward(F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="reflect"))
        return y[..., :h, :w]

    return restore


def image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth random image in [0, 1] (timing input)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, max(2, h // 16), max(2, w // 16), generator=g)
    x = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)
    return (x + 0.05 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


def blurred_astronaut(size: int = 256) -> torch.Tensor:
    import cv2
    from skimage import data

    rgb = data.astronaut()[96 : 96 + size, 160 : 160 + size].astype(np.float32) / 255.0
    kernel = np.zeros((15, 15), np.float32)
    cv2.line(kernel, (2, 9), (12, 5), 1.0, 1)  # a short diagonal camera-shake streak
    blurred = cv2.filter2D(rgb, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)
    return torch.from_numpy(blurred).permute(2, 0, 1)[None].contiguous()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


# ------------------------------------------------------------------------------------------
# Engines: each returns (restore function, setup seconds, note)


def eager(model: nn.Module, multiple: int) -> tuple[Runner, float, str]:
    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(x)

    return padded_restore(forward, multiple), 0.0, ""


def eager_channels_last(model: nn.Module, multiple: int) -> tuple[Runner, float, str]:
    net = to_channels_last(copy.deepcopy(model))

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net(x.contiguous(memory_format=torch.channels_last))

    return padded_restore(forward, multiple), 0.0, ""


def compiled(model: nn.Module, multiple: int, sample: torch.Tensor) -> tuple[Runner, float, str]:
    start = time.perf_counter()
    try:
        net = torch.compile(copy.deepcopy(model))
        run = eager(net, multiple)[0]
        run(sample)  # compiles for this size
        return run, time.perf_counter() - start, "inductor"
    except Exception as exc:  # no compiler, unsupported op: the eager fallback the issue asks for
        return eager(model, multiple)[0], time.perf_counter() - start, f"eager fallback ({type(exc).__name__})"


def onnx_file(model: nn.Module, name: str, hw: tuple[int, int], folder: Path) -> tuple[Path, float, float]:
    from deblur_cli.export import ExportSource, export_onnx

    spec = get_spec(name)
    source = ExportSource(copy.deepcopy(model), spec, "benchmark", None, spec.tlc is not None)
    # Untrained full-width networks reach larger values than trained ones and their fp32 paths
    # differ by ~1e-4 already (eager matmul vs torch.fft); the measured difference is recorded.
    path = folder / f"{name}-{hw[0]}x{hw[1]}.onnx"
    report = export_onnx(source, path, size=hw, overwrite=True, tolerance=1e-2)
    return report.path, report.seconds, report.max_diff


def runtime_engine(engine: str, path: Path, multiple: int, threads: int) -> Runner:
    """The ONNX file in ONNX Runtime or OpenVINO, opened as `deblur --engine` opens it."""
    from deblur_cli.export import open_session

    run = open_session(engine, path, threads)
    return padded_restore(lambda x: torch.from_numpy(run(x.numpy())), multiple)


def seed_fftformer(path: Path, model: nn.Module, multiple: int) -> Runner:
    spec = importlib.util.spec_from_file_location("seed_fftformer_arch", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.fftformer().eval()
    net.load_state_dict(model.state_dict(), strict=True)
    return eager(net, multiple)[0]


# ------------------------------------------------------------------------------------------
# Measurement


def interleaved(
    runners: dict[str, Runner], x: torch.Tensor, iters: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
    """Seconds per run of each engine, one run of each per round; and each one's last output."""
    times: dict[str, list[float]] = {k: [] for k in runners}
    outputs: dict[str, torch.Tensor] = {}
    for _ in range(warmup):
        for run in runners.values():
            run(x)
    for _ in range(iters):
        for key, run in runners.items():
            start = time.perf_counter()
            outputs[key] = run(x)
            times[key].append(time.perf_counter() - start)
    return times, outputs


def engine_runners(
    model: nn.Module, name: str, x: torch.Tensor, padded: tuple[int, int],
    args: argparse.Namespace, engines: list[str], folder: Path,
) -> tuple[dict[str, Runner], dict[str, tuple[float, str]]]:  # fmt: skip
    """The restore function of every requested engine for input `x`, and each one's setup
    (seconds: compile or export; note: fallback or why it is unavailable)."""
    m = get_spec(name).size_multiple
    runners: dict[str, Runner] = {}
    setup: dict[str, tuple[float, str]] = {}
    onnx_path: list[Path] = []
    export_failure: list[Exception] = []

    def add(engine: str, make: Callable[[], tuple[Runner, float, str]]) -> None:
        if engine not in engines:
            return
        try:
            run, seconds, note = make()
            runners[engine], setup[engine] = run, (seconds, note)
        except Exception as exc:
            setup[engine] = (0.0, f"unavailable: {type(exc).__name__}: {str(exc)[:200]}")
            traceback.print_exc(file=sys.stderr)

    def exported() -> Path:
        if export_failure:
            raise export_failure[0]
        if not onnx_path:  # one export (verified) serves ONNX Runtime and OpenVINO
            try:
                path, seconds, diff = onnx_file(model, name, padded, folder)
            except Exception as exc:
                export_failure.append(exc)
                raise
            onnx_path.append(path)
            setup["export"] = (seconds, f"export verified, max diff {diff:.2e}")
        return onnx_path[0]

    add("eager-fp32", lambda: eager(model, m))
    if any(isinstance(mod, DFFN) for mod in model.modules()):
        add("eager-torchfft", lambda: eager(set_fft_impl(copy.deepcopy(model), "torch"), m))
    add("eager-cl", lambda: eager_channels_last(model, m))
    add("compile", lambda: compiled(model, m, x))
    add("onnxruntime", lambda: (runtime_engine("onnxruntime", exported(), m, args.threads), *setup["export"]))
    add("openvino", lambda: (runtime_engine("openvino", exported(), m, args.threads), *setup["export"]))
    if name == "fftformer" and args.seed_fftformer is not None:
        seed_file = args.seed_fftformer
        add("seed", lambda: (seed_fftformer(seed_file, model, m), 0.0, seed_file.name))
    return runners, setup


def measure_model(name: str, args: argparse.Namespace, engines: list[str], folder: Path) -> list[dict[str, Any]]:
    model, weights = build(name, args.weights)
    m = get_spec(name).size_multiple
    rows: list[dict[str, Any]] = []
    for size in args.sizes.split(","):
        h, w = (int(v) for v in size.lower().split("x"))
        padded = (h + (-h % m), w + (-w % m))
        x = image(h, w)
        runners, setup = engine_runners(model, name, x, padded, args, engines, folder)
        print(f"[{name} {h}x{w} -> {padded[0]}x{padded[1]}] timing {', '.join(runners)}", file=sys.stderr, flush=True)
        times, outputs = interleaved(runners, x, args.iters, args.warmup)
        reference = outputs.get("eager-fp32")
        for engine in runners:
            diff = None if reference is None else float((outputs[engine].float() - reference).abs().max())
            rows.append({
                "model": name, "engine": engine, "size": f"{h}x{w}", "padded": list(padded),
                "weights": weights, "median_s": statistics.median(times[engine]),
                "min_s": min(times[engine]), "runs_s": times[engine],
                "max_abs_diff_vs_eager_fp32": diff,
                "setup_s": setup[engine][0], "note": setup[engine][1],
            })  # fmt: skip
            print(f"  {engine:15s} median {rows[-1]['median_s']:8.2f} s  diff {diff}", file=sys.stderr, flush=True)
        for engine, (_, note) in setup.items():
            if engine in engines and engine not in runners:
                rows.append({"model": name, "engine": engine, "size": f"{h}x{w}", "note": note})
    return rows


def measure_bf16(name: str, args: argparse.Namespace) -> dict[str, Any]:
    model, weights = build(name, args.weights)
    spec = get_spec(name)
    x = blurred_astronaut(256)
    run = eager(model, spec.size_multiple)[0]

    def bf16(t: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return run(t).float()

    times, outputs = interleaved({"fp32": run, "bf16": bf16}, x, args.iters, args.warmup)
    fp32_out, bf16_out = outputs["fp32"], outputs["bf16"]
    return {
        "model": name, "weights": weights, "input": "astronaut 256x256 crop, diagonal motion blur",
        "psnr_bf16_vs_fp32_db": psnr(bf16_out, fp32_out),
        "max_abs_diff": float((bf16_out - fp32_out).abs().max()),
        "psnr_input_vs_fp32_db": psnr(x, fp32_out),
        "fp32_median_s": statistics.median(times["fp32"]), "bf16_median_s": statistics.median(times["bf16"]),
    }  # fmt: skip


def merge(out: Path, meta: dict[str, Any], rows: list[dict[str, Any]], bf16: list[dict[str, Any]]) -> None:
    """Keep earlier results for (model, engine, size) pairs this run did not measure."""
    old: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    key = lambda r: (r["model"], r["engine"], r["size"])  # noqa: E731
    fresh = {key(r) for r in rows}
    kept = [r for r in old.get("results", []) if key(r) not in fresh]
    fresh_bf16 = {r["model"] for r in bf16}
    kept_bf16 = [r for r in old.get("bf16", []) if r["model"] not in fresh_bf16]
    runs = old.get("runs", []) + [meta]
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"runs": runs, "results": kept + rows, "bf16": kept_bf16 + bf16}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # what `deblur restore` does on CPU
    engines = args.engines.split(",")
    if args.weights is not None and "," in args.models:
        sys.exit("error: --weights belongs to one model; give one name in --models")
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
        "load_average_start": os.getloadavg(), "iters": args.iters, "warmup": args.warmup,
        "models": args.models, "engines": engines, "sizes": args.sizes, "weights": args.weights,
    }  # fmt: skip
    rows, bf16 = [], []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            rows += measure_model(name, args, engines, Path(folder))
            if not args.no_bf16:
                bf16.append(measure_bf16(name, args))
                print(f"[{name}] bf16 {bf16[-1]}", file=sys.stderr, flush=True)
    meta["load_average_end"] = os.getloadavg()
    merge(args.out, meta, rows, bf16)
    print(json.dumps({"results": rows, "bf16": bf16}, indent=1))


if __name__ == "__main__":
    main()
