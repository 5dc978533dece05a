"""deblur_cli.inference (visuals): before/after GIF and still comparison."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from deblur_cli.errors import ImageError, InputArrayError, InvalidArgumentError
from deblur_cli.inference import make_compare, make_gif


def _pair(height: int = 60, width: int = 90) -> tuple[np.ndarray, np.ndarray]:
    # few distinct colours, so the GIF palette reproduces them exactly
    blurry = np.zeros((height, width, 3), np.float32)
    blurry[:, : width // 3] = (1.0, 0.0, 0.0)
    restored = np.ones((height, width, 3), np.float32)
    restored[height // 2 :] = (0.0, 0.0, 1.0)
    return blurry, restored


def test_gif_alternates_blurry_and_restored(tmp_path: Path) -> None:
    blurry, restored = _pair()
    path = make_gif(blurry, restored, tmp_path / "a.gif", duration_ms=500)
    frames = iio.imread(path, index=None)
    assert frames.shape == (2, 60, 90, 3)
    assert np.array_equal(frames[0], (blurry * 255).astype(np.uint8))
    assert np.array_equal(frames[1], (restored * 255).astype(np.uint8))
    meta = iio.immeta(path)
    assert meta["loop"] == 0 and meta["duration"] == 500


def test_gif_label_marks_only_the_top_left_corner(tmp_path: Path) -> None:
    blurry, restored = _pair(120, 200)
    plain = iio.imread(make_gif(blurry, restored, tmp_path / "p.gif"), index=None)
    labelled = iio.imread(
        make_gif(blurry, restored, tmp_path / "l.gif", label="mlwnet-local"), index=None
    )
    changed = np.any(plain != labelled, axis=-1)  # (frames, H, W)
    assert changed[0].any() and changed[1].any()
    rows, cols = np.nonzero(changed[1])
    assert rows.max() < 40 and cols.min() < 10 and cols.max() < 120
    assert not changed[:, 60:].any()


def test_gif_is_shrunk_to_max_side(tmp_path: Path) -> None:
    blurry, restored = _pair(100, 400)
    frames = iio.imread(make_gif(blurry, restored, tmp_path / "s.gif", max_side=200), index=None)
    assert frames.shape == (2, 50, 200, 3)
    frames = iio.imread(make_gif(blurry, restored, tmp_path / "f.gif", max_side=None), index=None)
    assert frames.shape == (2, 100, 400, 3)


def test_side_by_side_compare(tmp_path: Path) -> None:
    blurry, restored = _pair()
    picture = iio.imread(make_compare(blurry, restored, tmp_path / "c.png"))
    assert picture.shape == (60, 180, 3)
    assert np.array_equal(picture[:, :90], (blurry * 255).astype(np.uint8))
    assert np.array_equal(picture[:, 90:], (restored * 255).astype(np.uint8))


def test_split_compare(tmp_path: Path) -> None:
    blurry, restored = _pair()
    picture = iio.imread(make_compare(blurry, restored, tmp_path / "s.png", mode="split"))
    assert picture.shape == (60, 90, 3)
    assert np.array_equal(picture[:, :45], (blurry[:, :45] * 255).astype(np.uint8))
    assert (picture[:, 45] == 255).all()  # divider
    assert np.array_equal(picture[:, 46:], (restored[:, 46:] * 255).astype(np.uint8))


def test_bad_inputs(tmp_path: Path) -> None:
    blurry, restored = _pair()
    with pytest.raises(InputArrayError, match="shapes differ"):
        make_compare(blurry, restored[:-1], tmp_path / "x.png")
    with pytest.raises(InvalidArgumentError, match="compare mode"):
        make_compare(blurry, restored, tmp_path / "x.png", mode="overlay")  # type: ignore[arg-type]
    with pytest.raises(ImageError, match="cannot write"):
        make_gif(blurry, restored, tmp_path / "missing" / "x.gif")
    assert list(tmp_path.iterdir()) == []
