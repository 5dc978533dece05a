"""Scoring pipeline: predictions folder vs streamed arrays, workers, JSONL streaming and resume,
missing predictions, saving with official names (protocols.md §1.6, datasets.md §5)."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from helpers.datasets import fake_prediction, make_gopro, make_realblur, write_rgb

from deblur_cli.datasets import Dataset, Pair, load_gopro, load_realblur, read_rgb
from deblur_cli.errors import DatasetError, InvalidArgumentError, ResultsFileError
from deblur_cli.evaluation import (
    CSV_NAME,
    EvalProgress,
    Protocol,
    default_protocol,
    evaluate,
    read_results,
    worker_count,
)
from deblur_cli.metrics import score_realblur, score_unaligned


def stream(pairs: Sequence[Pair]) -> Iterator[tuple[Pair, np.ndarray]]:
    for pair in pairs:
        yield pair, fake_prediction(pair)


@pytest.fixture()
def realblur(tmp_path: Path) -> Dataset:
    make_realblur(tmp_path / "data", n=3)
    return load_realblur(tmp_path / "data", "realblur-j", "test")


def test_default_protocols() -> None:
    assert default_protocol("realblur-r") == Protocol(align=True, ssim="realblur")
    assert default_protocol("gopro") == Protocol(align=False, ssim="ssim3d")
    assert default_protocol("paired", align=True).ssim == "realblur"
    with pytest.raises(InvalidArgumentError, match="only defined with the 'realblur' SSIM"):
        Protocol(align=True, ssim="ssim3d")
    d = default_protocol("realblur-j", ecc_iters=50).as_dict()
    assert d["ecc_iters"] == 50 and d["align"] == "ecc" and "opencv" in d["libraries"]


def test_predictions_folder_with_missing_images(realblur: Dataset, tmp_path: Path) -> None:
    preds = tmp_path / "preds"
    expected = {}
    for pair in realblur.pairs[:-2]:
        image = fake_prediction(pair)
        write_rgb(preds / pair.name, np.floor(image * 255 + 0.5).astype(np.uint8))
        expected[pair.name] = score_realblur(image, read_rgb(pair.sharp))
    events: list[EvalProgress] = []
    results = tmp_path / "run.jsonl"
    report = evaluate(realblur, preds, workers=0, results=results, progress=events.append)

    assert report.count == 4 and report.dataset == "realblur-j"
    assert report.missing == tuple(p.name for p in realblur.pairs[-2:])
    assert [s.reason for s in report.skipped] == ["missing prediction"] * 2
    assert report.skipped[0].file == str(preds / realblur.pairs[-2].name)
    assert [r.name for r in report.images] == list(expected)
    for r in report.images:
        assert r.psnr == expected[r.name].psnr and r.ssim == expected[r.name].ssim
        assert r.ecc_ok is True and len(r.warp) == 9
    assert report.psnr == pytest.approx(np.mean([s.psnr for s in expected.values()]), abs=1e-12)
    assert report.ecc_failures == 0 and report.seconds.alignment > 0
    assert [e.done for e in events] == [1, 2, 3, 4, 5, 6] and events[-1].total == 6

    header, records = read_results(results)
    assert header["protocol"]["align"] == "ecc" and len(records) == 4
    assert records[0] == report.images[0]


def test_stream_with_workers_and_save_dir(realblur: Dataset, tmp_path: Path) -> None:
    inline = evaluate(realblur, stream(realblur.pairs), workers=0)
    out = tmp_path / "out"
    pooled = evaluate(realblur, stream, workers=2, save_dir=out)  # callable source
    assert pooled.count == inline.count == 6 and pooled.workers == min(2, os.cpu_count() or 1)
    assert pooled.psnr == inline.psnr and pooled.ssim == inline.ssim
    assert [r.name for r in pooled.images] == [p.name for p in realblur.pairs]

    # saved PNGs carry the official names and re-score to the same numbers
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in realblur.pairs)
    rescored = evaluate(realblur, out, workers=0)
    assert rescored.psnr == inline.psnr and rescored.missing == ()
    with (out / CSV_NAME).open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == [p.name for p in realblur.pairs]
    assert rows[0]["ecc_ok"] == "ok" and float(rows[0]["psnr"]) == pytest.approx(
        inline.images[0].psnr, abs=1e-6
    )

    with pytest.raises(DatasetError, match="inside the dataset tree"):
        evaluate(realblur, stream, workers=0, save_dir=realblur.pairs[0].sharp.parent / "pred")


def test_resume_after_interruption_matches_uninterrupted(realblur: Dataset, tmp_path: Path) -> None:
    full = evaluate(realblur, stream(realblur.pairs), workers=0)

    def crashing(pairs: Sequence[Pair]) -> Iterator[tuple[Pair, np.ndarray]]:
        for i, pair in enumerate(pairs):
            if i == 3:
                raise RuntimeError("model crashed")
            yield pair, fake_prediction(pair)

    results = tmp_path / "run.jsonl"
    with pytest.raises(RuntimeError, match="model crashed"):
        evaluate(realblur, crashing, workers=1, results=results)
    _, partial = read_results(results)
    assert sorted(r.name for r in partial) == sorted(p.name for p in realblur.pairs[:3])
    # a torn last line, as left by a kill during a write, is ignored
    with results.open("a") as fh:
        fh.write('{"name": "scene002_3.png", "psn')

    asked: list[str] = []

    def recording(pairs: Sequence[Pair]) -> Iterator[tuple[Pair, np.ndarray]]:
        asked.extend(p.name for p in pairs)
        return stream(pairs)

    resumed = evaluate(realblur, recording, workers=1, results=results, resume=True)
    assert asked == [p.name for p in realblur.pairs[3:]]  # the model never reruns done images
    assert resumed.resumed == 3 and resumed.count == 6
    assert resumed.psnr == full.psnr and resumed.ssim == full.ssim
    _, records = read_results(results)
    assert sorted(r.name for r in records) == sorted(p.name for p in realblur.pairs)

    with pytest.raises(ResultsFileError, match="different ecc_iters"):
        evaluate(
            realblur,
            stream,
            workers=0,
            results=results,
            resume=True,
            protocol=default_protocol("realblur-j", ecc_iters=50),
        )


def test_gopro_unaligned_and_bad_predictions(tmp_path: Path) -> None:
    make_gopro(tmp_path / "GOPRO_Large")
    ds = load_gopro(tmp_path / "GOPRO_Large", "test")
    flat_pair = ds.pairs[1]

    def source(pairs: Sequence[Pair]) -> Iterator[tuple[Pair, np.ndarray]]:
        for pair in pairs:
            image = fake_prediction(pair)
            if pair is ds.pairs[0]:
                image = image[:-1]  # wrong size
            yield pair, image

    out = tmp_path / "out"
    report = evaluate(ds, source, workers=0, save_dir=out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        p.name for p in ds.pairs[1:]
    ]
    assert (out / CSV_NAME).is_file()
    assert report.protocol["align"] == "none" and report.protocol["ssim"] == "ssim3d"
    assert report.count == 3 and report.ecc_failures == 0
    assert all(r.ecc_ok is None and r.warp is None for r in report.images)
    assert "prediction is 47x64, ground truth is 48x64" in report.skipped[0].reason
    want = score_unaligned(fake_prediction(flat_pair), read_rgb(flat_pair.sharp))
    assert report.images[0].psnr == want.psnr and report.images[0].ssim == want.ssim


def test_ecc_failures_are_counted_not_fatal(realblur: Dataset) -> None:
    def source(pairs: Sequence[Pair]) -> Iterator[tuple[Pair, np.ndarray]]:
        for i, pair in enumerate(pairs):
            h, w = pair.size
            yield pair, (np.full((h, w, 3), 0.5, np.float32) if i == 0 else fake_prediction(pair))

    report = evaluate(realblur, source, workers=0)
    assert report.count == 6 and report.ecc_failures == 1
    assert report.images[0].ecc_ok is False and math.isfinite(report.images[0].psnr)


def test_fatal_evaluation_errors(realblur: Dataset, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="predictions folder not found"):
        evaluate(realblur, tmp_path / "nope", workers=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image could be scored.*missing prediction"):
        evaluate(realblur, tmp_path / "empty", workers=0)
    with pytest.raises(InvalidArgumentError, match="results file"):
        evaluate(realblur, stream, workers=0, resume=True)
    bogus = Pair("sceneX_1.png", realblur.pairs[0].blur, realblur.pairs[0].sharp)
    with pytest.raises(DatasetError, match="not in"):
        evaluate(realblur, iter([(bogus, np.zeros((2, 2, 3), np.float32))]), workers=0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('garbage\n{"dataset": "realblur-j"}\n')
    with pytest.raises(ResultsFileError, match="bad.jsonl:1: not a results line"):
        read_results(bad)


def test_worker_count_is_capped_by_images_and_cores() -> None:
    count, note = worker_count(None, 1000)  # auto: one per usable core, no note
    assert 1 <= count <= (os.cpu_count() or 1) and note is None
    assert worker_count(None, 1) == (1, None)
    assert worker_count(0, 6) == (0, None)  # 0: score in this process
    assert worker_count(3, 0) == (0, None)  # everything resumed: no pool at all
    count, note = worker_count(64, 1)
    assert count == 1 and note == "1 scoring processes instead of 64: 1 images to score"


def test_results_file_that_is_not_one_is_never_an_empty_resume(tmp_path: Path) -> None:
    # a torn last line is tolerated only after readable lines; a file that is one torn line
    # of garbage (no newline at all) is an error, not zero records
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\xff\xfe not json and no newline")
    with pytest.raises(ResultsFileError, match="garbage.jsonl:1: not a results line"):
        read_results(garbage)
    report = tmp_path / "report.json"  # the pretty JSON report, given as a results file
    report.write_text('{\n  "dataset": "realblur-j",\n  "count": 4\n}\n')
    with pytest.raises(ResultsFileError, match="report.json:1: not a results line"):
        read_results(report)
