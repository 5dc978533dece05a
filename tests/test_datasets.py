"""Dataset layouts, list files, detection, names and validation on fake datasets (datasets.md §6)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.datasets import (
    make_gopro,
    make_paired,
    make_realblur,
    official_list_bytes,
    smooth_image,
    write_rgb,
)
from helpers.shared import shared_path

from deblur_cli.datasets import (
    REALBLUR_FOLDERS,
    detect_layout,
    gopro_prediction_name,
    load_gopro,
    load_list,
    load_paired,
    load_realblur,
    load_seed_json,
    natural_key,
    open_dataset,
    read_rgb,
    realblur_prediction_name,
)
from deblur_cli.errors import DatasetError

# --------------------------------------------------------------------------------------
# RealBlur


def test_realblur_official_list_format(tmp_path: Path) -> None:
    lines = make_realblur(tmp_path)
    raw = (tmp_path / "RealBlur_J_test_list.txt").read_bytes()
    assert raw.count(b" \n") == len(lines) - 1 and not raw.endswith(b"\n")

    ds = load_realblur(tmp_path, "realblur-j", "test")
    assert ds.name == "realblur-j" and ds.align_by_default
    assert [p.name for p in ds.pairs] == [
        "scene001_1.png",
        "scene001_2.png",
        "scene002_1.png",
        "scene002_2.png",
    ]
    assert ds.pairs[0].size == (70, 64) and ds.pairs[2].size == (64, 80)
    assert ds.pairs[0].sharp.name == "gt_1.png" and ds.pairs[0].blur.name == "blur_1.png"
    assert ds.skipped == ()


def test_realblur_crlf_list_and_comments(tmp_path: Path) -> None:
    lines = make_realblur(tmp_path)
    crlf = tmp_path / "crlf_list.txt"
    crlf.write_bytes(b"# a comment\r\n\r\n" + official_list_bytes(lines, crlf=True) + b"\r\n")
    a = load_list(crlf)
    b = load_realblur(tmp_path, "realblur-j", "test")
    assert a.pairs == b.pairs and a.name == "realblur-j"


def test_realblur_bad_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    lines = make_realblur(tmp_path)
    folder = REALBLUR_FOLDERS["realblur-j"]
    # scene002 GT with the wrong size for one pair
    write_rgb(tmp_path / folder / "scene002" / "gt" / "gt_2.png", smooth_image(50, 50, 1))
    bad = [
        lines[0],
        f"{folder}/scene003/gt/gt_1.png {folder}/scene003/blur/blur_1.png",  # missing files
        lines[1] + " extra",  # three tokens
        lines[3],  # size mismatch
        lines[0],  # duplicate
        lines[2],
    ]
    path = tmp_path / "bad_list.txt"
    path.write_bytes(official_list_bytes(bad))
    ds = load_list(path)
    assert [p.name for p in ds.pairs] == ["scene001_1.png", "scene002_1.png"]
    by_line = {s.line: s for s in ds.skipped}
    assert set(by_line) == {2, 3, 4, 5}
    assert all(s.file == str(path) for s in ds.skipped)
    assert "missing file" in by_line[2].reason and "scene003" in by_line[2].reason
    assert "3 tokens" in by_line[3].reason
    assert "size mismatch" in by_line[4].reason and "50x50" in by_line[4].reason
    assert "duplicate of line 1" in by_line[5].reason
    assert str(by_line[3]).startswith(f"{path}:3: ")


def test_realblur_fatal_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_realblur(tmp_path / "nope", "realblur-j")
    make_realblur(tmp_path)
    with pytest.raises(DatasetError, match="RealBlur_J_train_list.txt: list file not found"):
        load_realblur(tmp_path, "realblur-j", "train")
    empty = tmp_path / "empty_list.txt"
    empty.write_bytes(b"\n\n")
    with pytest.raises(DatasetError, match="no image pairs"):
        load_list(empty)
    only_bad = tmp_path / "only_bad.txt"
    only_bad.write_bytes(b"a/gt/gt_1.png a/blur/blur_1.png")
    with pytest.raises(DatasetError, match="no usable image pairs.*missing file"):
        load_list(only_bad)
    unknown = tmp_path / "unknown.txt"
    unknown.write_bytes(b"x.png y.png")
    with pytest.raises(DatasetError, match="cannot tell the list format"):
        load_list(unknown)
    binary = tmp_path / "binary_list.txt"  # e.g. a PNG renamed by mistake: named, not a traceback
    binary.write_bytes(b"a/gt/gt_1.png a/blur/blur_1.png\n\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(DatasetError, match=r"binary_list.txt:2: not a text list file"):
        load_list(binary)


def test_realblur_detection_j_and_r(tmp_path: Path) -> None:
    make_realblur(tmp_path, "J")
    assert detect_layout(tmp_path) == "realblur"
    assert open_dataset(tmp_path).name == "realblur-j"
    make_realblur(tmp_path, "R")
    with pytest.raises(DatasetError, match="both RealBlur-J and RealBlur-R"):
        open_dataset(tmp_path)
    r = open_dataset(tmp_path, dataset="RealBlur_R")
    assert r.name == "realblur-r" and "RealBlur-R_BM3D" in str(r.pairs[0].sharp)
    assert detect_layout(tmp_path / "RealBlur_R_test_list.txt") == "list"
    assert open_dataset(tmp_path / "RealBlur_R_test_list.txt").name == "realblur-r"


def test_realblur_names_keep_scene_suffix() -> None:
    gt = Path("root/X/scene244_reflect/gt/gt_3.png")
    assert realblur_prediction_name(gt) == "scene244_reflect_3.png"
    assert realblur_prediction_name(Path("r/X/scene230/gt/gt_17.png")) == "scene230_17.png"
    assert gopro_prediction_name(Path("G/test/GOPR0384_11_00/blur/000001.png")) == (
        "GOPR0384_11_00/000001.png"
    )


def test_shared_list_files_match_spec() -> None:
    # datasets.md: sha256 sums and byte properties of the published lists.
    sums = {
        "realblur/RealBlur_J_test_list.txt": "167cc8d37939fe3821331579018c8570d39464618aeb4f50429210bc8c2ba9ce",
        "realblur/RealBlur_R_test_list.txt": "91b0b4c9ecba88c15eebf9f0a0a9c86898fc800a3fd1cca719b0c7ca9563fc07",
        "gopro/GoPro_test_list.txt": "fbeb0bda8daeb9d98fb21cc93e63e137fadb374c5933e2434ecff0dd2f3fe3f5",
    }
    for rel, digest in sums.items():
        assert (
            hashlib.sha256(shared_path("data", *rel.split("/")).read_bytes()).hexdigest() == digest
        )

    j = load_list(shared_path("data", "realblur", "RealBlur_J_test_list.txt"), check=False)
    r = load_list(shared_path("data", "realblur", "RealBlur_R_test_list.txt"), check=False)
    assert len(j.pairs) == 980 and j.skipped == () and j.name == "realblur-j"
    assert r.name == "realblur-r" and [p.name for p in r.pairs] == [p.name for p in j.pairs]
    assert j.pairs[0].name == "scene230_7.png"  # list order kept, not sorted
    assert len({p.name.rsplit("_", 1)[0] for p in j.pairs}) == 50
    train = load_list(shared_path("data", "realblur", "RealBlur_J_train_list.txt"), check=False)
    assert len(train.pairs) == 3758
    assert not {p.sharp.parent.parent.name for p in train.pairs} & {
        p.sharp.parent.parent.name for p in j.pairs
    }

    g = load_list(shared_path("data", "gopro", "GoPro_test_list.txt"), check=False)
    assert g.name == "gopro" and len(g.pairs) == 1111
    assert g.pairs[0].name == "GOPR0384_11_00/000001.png"
    assert g.pairs[0].sharp.parent.name == "sharp" and g.pairs[0].blur.parent.name == "blur"
    gamma = load_list(
        shared_path("data", "gopro", "GoPro_test_list.txt"), gopro_blur="blur_gamma", check=False
    )
    assert gamma.pairs[0].blur.parent.name == "blur_gamma"
    assert [p.name for p in gamma.pairs] == [p.name for p in g.pairs]


# --------------------------------------------------------------------------------------
# GoPro


def test_gopro_discovery_and_blur_gamma(tmp_path: Path) -> None:
    make_gopro(tmp_path)
    (tmp_path / "test" / "GOPR0862_11_00" / "sharp" / "000002.png").unlink()
    assert detect_layout(tmp_path) == "gopro"
    ds = open_dataset(tmp_path, split="test")
    assert ds.name == "gopro" and not ds.align_by_default
    assert [p.name for p in ds.pairs] == [
        "GOPR0384_11_00/000001.png",
        "GOPR0384_11_00/000002.png",
        "GOPR0862_11_00/000001.png",
    ]
    assert len(ds.skipped) == 1 and "000002.png" in ds.skipped[0].file
    gamma = load_gopro(tmp_path, "test", blur_folder="blur_gamma")
    assert all(p.blur.parent.name == "blur_gamma" for p in gamma.pairs)
    assert len(load_gopro(tmp_path, "train").pairs) == 2
    with pytest.raises(DatasetError, match="blur_gamma"):
        load_gopro(tmp_path, "test", blur_folder="gamma")


def test_gopro_list_sharp_first(tmp_path: Path) -> None:
    make_gopro(tmp_path)
    lines = [
        f"test/GOPR0384_11_00/sharp/{f:06d}.png test/GOPR0384_11_00/blur/{f:06d}.png\n"
        for f in (1, 2)
    ]
    path = tmp_path / "GoPro_test_list.txt"
    path.write_text("".join(lines))
    ds = load_gopro(tmp_path, "test", list_path=path)
    assert ds.name == "gopro" and len(ds.pairs) == 2
    assert ds.pairs[0].sharp.parent.name == "sharp"
    assert open_dataset(path).pairs == ds.pairs


# --------------------------------------------------------------------------------------
# Paired folders


def test_paired_folders(tmp_path: Path) -> None:
    make_paired(tmp_path)
    assert detect_layout(tmp_path) == "paired"
    ds = open_dataset(tmp_path)
    assert ds.name == "paired" and not ds.align_by_default
    assert [p.name for p in ds.pairs] == ["2.png", "10.png", "a.png", "sub/b.png"]
    jpg = ds.pairs[-1]
    assert jpg.blur.suffix == ".jpg" and jpg.sharp.suffix == ".png"
    assert len(ds.skipped) == 1 and ds.skipped[0].file.endswith("only_blur.png")
    assert "no matching file" in ds.skipped[0].reason


def test_paired_aliases_flat_split_and_errors(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    img = smooth_image(32, 32, 3)
    write_rgb(flat / "test" / "input" / "x.png", img)
    write_rgb(flat / "test" / "target" / "x.png", img)
    assert detect_layout(flat) == "paired-split"
    ds = open_dataset(flat, dataset="realblur-j")  # MPRNet-style test/RealBlur_J flat layout
    assert (
        ds.name == "realblur-j" and ds.align_by_default and [p.name for p in ds.pairs] == ["x.png"]
    )

    ambiguous = tmp_path / "amb"
    write_rgb(ambiguous / "blur" / "x.png", img)
    write_rgb(ambiguous / "input" / "x.png", img)
    write_rgb(ambiguous / "sharp" / "x.png", img)
    with pytest.raises(DatasetError, match="ambiguous blur-side folders"):
        load_paired(ambiguous)

    dup = tmp_path / "dup"
    write_rgb(dup / "blur" / "x.png", img)
    write_rgb(dup / "blur" / "x.jpg", img)
    write_rgb(dup / "sharp" / "x.png", img)
    with pytest.raises(DatasetError, match="share the stem 'x'"):
        load_paired(dup)

    empty = tmp_path / "empty"
    (empty / "blur").mkdir(parents=True)
    (empty / "sharp").mkdir()
    with pytest.raises(DatasetError, match="no usable image pairs"):
        load_paired(empty)
    with pytest.raises(DatasetError, match="no dataset layout found"):
        detect_layout(tmp_path / "empty" / "blur")
    with pytest.raises(DatasetError, match="no such file"):
        open_dataset(tmp_path / "missing")


def test_paired_size_mismatch_is_skipped(tmp_path: Path) -> None:
    write_rgb(tmp_path / "blur" / "a.png", smooth_image(30, 40, 1))
    write_rgb(tmp_path / "sharp" / "a.png", smooth_image(30, 41, 1))
    write_rgb(tmp_path / "blur" / "b.png", smooth_image(30, 40, 1))
    write_rgb(tmp_path / "sharp" / "b.png", smooth_image(30, 40, 1))
    ds = load_paired(tmp_path)
    assert [p.name for p in ds.pairs] == ["b.png"]
    assert "size mismatch" in ds.skipped[0].reason and "30x41" in ds.skipped[0].reason


def test_natural_sort() -> None:
    names = ["10.png", "2.png", "a10b.png", "a2b.png", "1.png"]
    assert sorted(names, key=natural_key) == ["1.png", "2.png", "10.png", "a2b.png", "a10b.png"]


# --------------------------------------------------------------------------------------
# Seed JSON lists and image reading


def test_seed_json_list(tmp_path: Path) -> None:
    make_realblur(tmp_path)
    folder = tmp_path / REALBLUR_FOLDERS["realblur-j"]
    entries = [
        {
            "blur_image": str(folder / "scene001" / "blur" / f"blur_{i}.png"),
            "gt_image": str(folder / "scene001" / "gt" / f"gt_{i}.png"),
            "height": 70,
            "width": 64 if i == 1 else 99,  # the second disagrees with the file
        }
        for i in (1, 2)
    ]
    entries.append({"blur_image": "x.png"})
    path = tmp_path / "RealBlur_J_test_list.json"
    path.write_text(json.dumps(entries))
    assert detect_layout(path) == "json"
    ds = open_dataset(path)
    assert ds == load_seed_json(path)
    assert ds.name == "realblur-j" and [p.name for p in ds.pairs] == ["scene001_1.png"]
    reasons = {s.line: s.reason for s in ds.skipped}
    assert "70x99" in reasons[2] and "gt_image" in reasons[3]


def test_read_rgb_conversions(tmp_path: Path) -> None:
    rgb = smooth_image(20, 30, 5)
    write_rgb(tmp_path / "rgb.png", rgb)
    assert np.array_equal(read_rgb(tmp_path / "rgb.png"), rgb)

    gray = rgb[..., 0]
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    assert np.array_equal(read_rgb(tmp_path / "gray.png"), np.repeat(gray[..., None], 3, 2))

    rgba = np.concatenate([rgb[..., ::-1], np.full((20, 30, 1), 7, np.uint8)], axis=2)
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    assert np.array_equal(read_rgb(tmp_path / "rgba.png"), rgb)

    # 16-bit: v*257 maps back to v; +100 (0.39 of an 8-bit step) must round back down
    deep = rgb.astype(np.uint16) * 257 + (rgb < 255).astype(np.uint16) * 100
    cv2.imwrite(str(tmp_path / "deep.png"), np.ascontiguousarray(deep[..., ::-1]))
    assert np.array_equal(read_rgb(tmp_path / "deep.png"), rgb)

    (tmp_path / "broken.png").write_bytes(b"not an image")
    from deblur_cli.errors import ImageError

    with pytest.raises(ImageError, match="broken.png"):
        read_rgb(tmp_path / "broken.png")
