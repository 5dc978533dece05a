"""deblur_cli.inference.tiles: placement (protocols §2.1/§2.2), blend weights, padding, tiled forward."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deblur_cli.errors import InputArrayError, InputSizeError, InvalidArgumentError
from deblur_cli.inference.tiles import (
    axis_weights,
    pad_bottom_right,
    plan_tiles,
    tile_starts,
    tiled_forward,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _identity(batch: torch.Tensor) -> torch.Tensor:
    return batch.clone()


def _accumulate(starts: tuple[int, ...], size: int, weights: np.ndarray) -> np.ndarray:
    total = np.zeros(starts[-1] + size)
    for start, w in zip(starts, weights, strict=True):
        total[start : start + size] += w
    return total


# --------------------------------------------------------------------------- placement


def test_even_placement_worked_example() -> None:
    # protocols §2.2: 760×657 at 256/128
    assert tile_starts(760, 256, 128, "even") == (0, 126, 252, 378, 504)
    assert tile_starts(657, 256, 128, "even") == (0, 100, 200, 301, 401)


def test_seed_placement_worked_example() -> None:
    # protocols §2.1: near-duplicate last tiles
    assert tile_starts(773, 256, 128, "seed") == (0, 128, 256, 384, 512, 517)
    assert tile_starts(773, 512, 256, "seed") == (0, 256, 261)
    assert tile_starts(760, 256, 128, "seed") == (0, 128, 256, 384, 504)


@pytest.mark.parametrize(
    "size,counts",
    [
        ((760, 657), (25, 4, 16, 4)),
        ((752, 667), (25, 4, 16, 4)),
        ((773, 680), (30, 6, 16, 4)),
        ((720, 1280), (45, 8, 28, 6)),
    ],
)
def test_tile_counts_match_the_seed_table(size: tuple[int, int], counts: tuple[int, ...]) -> None:
    settings_ = [(256, 128), (512, 256), (256, 64), (512, 128)]
    for (tile, overlap), count in zip(settings_, counts, strict=True):
        seed = plan_tiles(*size, tile, overlap, placement="seed")
        even = plan_tiles(*size, tile, overlap, placement="even")
        assert seed.count == count
        assert even.count == count  # §2.2: same count as the seed rule in every case


def test_single_tile_when_axis_not_longer_than_tile() -> None:
    assert tile_starts(256, 256, 128, "even") == (0,)
    assert tile_starts(100, 256, 128, "even") == (0,)
    assert tile_starts(100, 256, 128, "seed") == (0,)
    assert tile_starts(256, 256, 128, "seed") == (0,)


@FAST
@given(
    length=st.integers(1, 3000),
    tile=st.integers(1, 600),
    data=st.data(),
)
def test_even_placement_properties(length: int, tile: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, tile - 1))
    stride = tile - overlap
    starts = tile_starts(length, tile, overlap, "even")
    assert starts[0] == 0
    if length <= tile:
        assert starts == (0,)
        return
    assert len(starts) == math.ceil((length - tile) / stride) + 1
    assert starts[-1] == length - tile
    gaps = np.diff(starts)
    assert gaps.min() >= 1
    assert gaps.max() <= stride  # so every actual overlap is at least the requested one
    assert gaps.max() - gaps.min() <= 1  # spread evenly


@FAST
@given(length=st.integers(1, 3000), tile=st.integers(1, 600), data=st.data())
def test_seed_placement_properties(length: int, tile: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, tile - 1))
    starts = tile_starts(length, tile, overlap, "seed")
    if length < tile:
        assert starts == (0,)
        return
    assert starts[0] == 0 and starts[-1] == length - tile
    gaps = np.diff(starts)
    assert (gaps[:-1] == tile - overlap).all()
    assert ((gaps >= 1) & (gaps <= tile - overlap)).all()


def test_plan_sizes_and_padding() -> None:
    # even: a short axis is padded to the size multiple only; seed: up to the tile
    even = plan_tiles(20, 300, 64, 16, size_multiple=16, placement="even")
    assert (even.canvas_height, even.tile_height, even.rows) == (32, 32, (0,))
    assert (even.canvas_width, even.tile_width) == (300, 64)
    assert even.pad_mode == "reflect"
    seed = plan_tiles(20, 300, 64, 16, size_multiple=16, placement="seed")
    assert (seed.canvas_height, seed.tile_height) == (64, 64)
    assert seed.pad_mode == "symmetric"
    whole = plan_tiles(37, 50, 0, size_multiple=16)
    assert (whole.canvas_height, whole.canvas_width, whole.count) == (48, 64, 1)


def test_bad_arguments() -> None:
    with pytest.raises(InputSizeError, match="multiple"):
        plan_tiles(100, 100, 100, 10, size_multiple=16)
    for tile, overlap in [(64, 64), (64, -1), (-1, 0)]:
        with pytest.raises(InvalidArgumentError):
            plan_tiles(100, 100, tile, overlap)
    with pytest.raises(InvalidArgumentError, match="placement"):
        plan_tiles(100, 100, 64, 8, placement="grid")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="blend"):
        axis_weights((0, 10), 20, "gauss")  # type: ignore[arg-type]
    image = torch.zeros(2, 3, 8, 8)
    with pytest.raises(InputArrayError, match="1×C×H×W"):
        tiled_forward(image, _identity, tile=4, overlap=1)
    with pytest.raises(InvalidArgumentError, match="margin"):
        tiled_forward(torch.zeros(1, 3, 40, 40), _identity, tile=16, overlap=4, margin=2)


# --------------------------------------------------------------------------- weights


def test_hamming_is_the_seed_window() -> None:
    w = axis_weights((0, 100, 200), 256, "hamming")
    n = np.arange(256)
    expected = 0.54 - 0.46 * np.cos(2 * np.pi * n / 255)
    for row in w:
        np.testing.assert_allclose(row, expected, atol=1e-12)
    assert w[0, 0] == pytest.approx(0.08) and (w[0, 0] * w[0, 0]) == pytest.approx(0.0064)
    assert (w > 0).all()


def test_cosine_weights_are_one_away_from_overlaps() -> None:
    starts = tile_starts(657, 256, 64, "even")
    assert starts == (0, 134, 267, 401)  # overlaps 122, 123, 122: uneven
    w = axis_weights(starts, 256, "cosine")
    assert w[0, 0] == 1.0 and w[-1, -1] == 1.0  # border sides get no ramp
    assert (w[0, :134] == 1.0).all() and (w[-1, 122:] == 1.0).all()
    # each ramp's length follows the actual overlap with that neighbour
    left, right = 122, 123
    np.testing.assert_allclose(w[1, :left], np.sin(np.pi / 2 * (np.arange(left) + 0.5) / left) ** 2)
    np.testing.assert_allclose(
        w[1, -right:], np.cos(np.pi / 2 * (np.arange(right) + 0.5) / right) ** 2
    )
    assert (w[1, left:-right] == 1.0).all()


@FAST
@given(length=st.integers(2, 2000), tile=st.integers(2, 300), data=st.data())
def test_cosine_weights_sum_to_one_where_at_most_two_tiles_overlap(
    length: int, tile: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, tile // 2))
    starts = tile_starts(length, tile, overlap, "even")
    margin = data.draw(st.integers(0, max(0, (overlap - 1) // 2)))
    w = axis_weights(starts, tile, "cosine", margin=margin)
    assert (w >= 0).all() and (w <= 1).all()
    total = _accumulate(starts, tile, w)
    if len(starts) > 2 and any(starts[i + 2] < starts[i] + tile for i in range(len(starts) - 2)):
        return  # a triple overlap: only the normalised sum is 1 (next test)
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


@FAST
@given(length=st.integers(2, 2000), tile=st.integers(2, 300), data=st.data())
def test_blend_weights_are_positive_with_any_overlap(
    length: int, tile: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, tile - 1))
    placement = data.draw(st.sampled_from(["even", "seed"]))
    if length < tile:
        length = tile
    starts = tile_starts(length, tile, overlap, placement)
    for blend in ("cosine", "hamming"):
        w = axis_weights(starts, tile, blend)
        if blend == "cosine":
            assert (w > 0).all()  # no margin: every pixel of every tile counts
        assert (_accumulate(starts, tile, w) > 0).all()


def test_margin_zeroes_interior_sides_only() -> None:
    w = axis_weights((0, 40, 80), 64, "cosine", margin=3)
    assert w[0, 0] == 1.0 and (w[0, -3:] == 0).all() and w[0, -4] > 0
    assert (w[1, :3] == 0).all() and (w[1, -3:] == 0).all()
    assert (w[2, :3] == 0).all() and w[2, -1] == 1.0
    with pytest.raises(InvalidArgumentError, match="margin"):
        axis_weights((0, 40), 45, "cosine", margin=3)  # overlap 5 < 2·3 + 1
    with pytest.raises(InvalidArgumentError, match="cosine"):
        axis_weights((0, 40), 64, "hamming", margin=1)


# --------------------------------------------------------------------------- padding


@pytest.mark.parametrize("mode", ["reflect", "symmetric"])
@pytest.mark.parametrize("size,pad", [(5, 11), (5, 3), (1, 4), (2, 9), (7, 0)])
def test_padding_matches_numpy_even_beyond_the_image(mode: str, size: int, pad: int) -> None:
    image = torch.arange(size * (size + 1), dtype=torch.float32).reshape(1, 1, size, size + 1)
    padded = pad_bottom_right(image, pad, pad + 1, mode)  # type: ignore[arg-type]
    expected = np.pad(image.numpy(), ((0, 0), (0, 0), (0, pad), (0, pad + 1)), mode=mode)  # type: ignore[call-overload]
    assert np.array_equal(padded.numpy(), expected)


def test_reflect_is_reflect_101_like_torch() -> None:
    image = torch.rand(1, 3, 9, 10)
    assert torch.equal(pad_bottom_right(image, 4, 6), F.pad(image, (0, 6, 0, 4), mode="reflect"))


# --------------------------------------------------------------------------- tiled forward


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(1, 90),
    width=st.integers(1, 90),
    multiple=st.sampled_from([1, 4, 8]),
    tile_units=st.integers(1, 6),
    placement=st.sampled_from(["even", "seed"]),
    blend=st.sampled_from(["cosine", "hamming"]),
    tile_batch=st.integers(1, 5),
    data=st.data(),
)
def test_identity_forward_reconstructs_the_image(
    height: int,
    width: int,
    multiple: int,
    tile_units: int,
    placement: str,
    blend: str,
    tile_batch: int,
    data: st.DataObject,
) -> None:
    tile = 8 * tile_units  # a multiple of every size multiple drawn
    overlap = data.draw(st.integers(0, tile - 1), label="overlap")  # includes overlap > tile/2
    image = torch.rand(
        1, 3, height, width, generator=torch.Generator().manual_seed(height * 97 + width)
    )
    plan = plan_tiles(height, width, tile, overlap, size_multiple=multiple, placement=placement)  # type: ignore[arg-type]
    seen: list[tuple[int, ...]] = []

    def forward(batch: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(batch.shape))
        assert batch.shape[-2] % multiple == 0 and batch.shape[-1] % multiple == 0
        assert batch.shape[-2:] == (plan.tile_height, plan.tile_width)
        assert batch.shape[0] <= tile_batch
        return batch * 1.0

    out = tiled_forward(
        image,
        forward,
        tile=tile,
        overlap=overlap,
        size_multiple=multiple,
        tile_batch=tile_batch,
        placement=placement,  # type: ignore[arg-type]
        blend=blend,  # type: ignore[arg-type]
    )
    assert out.shape == image.shape and out.dtype == torch.float32
    # float32 rounding of the weighted sums: a few ulp where at most two tiles overlap per
    # axis; with overlap > tile/2 up to (tile/stride)² tiles pile up (1 px stride: hundreds).
    atol = 1e-6 if 2 * overlap <= tile else 1e-5
    torch.testing.assert_close(out, image, atol=atol, rtol=0)
    assert sum(s[0] for s in seen) == plan.count
    if placement == "even" and height <= tile:
        assert plan.tile_height == -(-height // multiple) * multiple  # padded to the multiple only


def test_whole_image_mode_pads_beyond_the_image_size() -> None:
    image = torch.rand(1, 3, 5, 5)
    shapes: list[torch.Size] = []

    def forward(batch: torch.Tensor) -> torch.Tensor:
        shapes.append(batch.shape)
        return batch + 1

    out = tiled_forward(image, forward, tile=0, size_multiple=16)
    assert shapes == [torch.Size([1, 3, 16, 16])]
    torch.testing.assert_close(out, image + 1)


def test_seed_mode_pads_small_images_to_the_tile_with_opencv_reflect() -> None:
    image = torch.rand(1, 3, 20, 70)
    inputs: list[torch.Tensor] = []

    def forward(batch: torch.Tensor) -> torch.Tensor:
        inputs.append(batch)
        return batch

    out = tiled_forward(image, forward, tile=32, overlap=8, placement="seed", blend="hamming")
    torch.testing.assert_close(out, image, atol=1e-6, rtol=0)
    assert all(b.shape[-2:] == (32, 32) for b in inputs)
    expected = np.pad(image.numpy(), ((0, 0), (0, 0), (0, 12), (0, 0)), mode="symmetric")
    assert np.array_equal(inputs[0][0].numpy(), expected[0, :, :, :32])


def _conv_forward(radius: int) -> torch.nn.Module:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 3, 2 * radius + 1, padding=radius, padding_mode="zeros")
    return conv.eval()


@pytest.mark.parametrize("placement", ["even", "seed"])
@pytest.mark.parametrize("blend", ["cosine", "hamming"])
def test_conv_forward_matches_whole_image_away_from_seams(placement: str, blend: str) -> None:
    radius = 2
    conv = _conv_forward(radius)
    image = torch.rand(1, 3, 75, 97, generator=torch.Generator().manual_seed(3))
    whole = tiled_forward(image, conv, tile=0)
    torch.testing.assert_close(whole, conv(image).detach())
    tiled = tiled_forward(
        image, conv, tile=32, overlap=12, placement=placement, blend=blend, tile_batch=4
    )  # type: ignore[arg-type]
    plan = plan_tiles(75, 97, 32, 12, placement=placement)  # type: ignore[arg-type]
    clean = np.ones((75, 97), bool)  # pixels farther than `radius` from every interior tile edge
    for starts, axis, length in ((plan.rows, 0, 75), (plan.cols, 1, 97)):
        for s in starts:
            for edge in (s, s + 32):
                if 0 < edge < length:
                    lo, hi = max(0, edge - radius), min(length, edge + radius)
                    if axis == 0:
                        clean[lo:hi] = False
                    else:
                        clean[:, lo:hi] = False
    assert clean.mean() > 0.3
    diff = (tiled - whole).abs()[0].amax(0).numpy()
    assert diff[clean].max() < 1e-5
    assert diff[~clean].max() > 1e-4  # the seams exist, so the mask above is not vacuous


def test_seam_margin_removes_conv_seams_entirely() -> None:
    radius = 2
    conv = _conv_forward(radius)
    image = torch.rand(1, 3, 75, 97, generator=torch.Generator().manual_seed(4))
    whole = conv(image).detach()
    tiled = tiled_forward(image, conv, tile=32, overlap=12, margin=radius)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


def test_batches_progress_and_first_of_several_outputs() -> None:
    image = torch.rand(1, 3, 70, 70)
    sizes: list[int] = []
    reports: list[tuple[int, int]] = []

    def forward(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sizes.append(batch.shape[0])
        return batch * 2, batch[:, :, ::2, ::2]  # main output first, then an aux head

    out = tiled_forward(
        image,
        forward,
        tile=32,
        overlap=8,
        tile_batch=4,
        progress=lambda d, t: reports.append((d, t)),
    )
    count = plan_tiles(70, 70, 32, 8).count
    assert count == 9
    assert sizes == [4, 4, 1]
    assert reports == [(4, 9), (8, 9), (9, 9)]
    torch.testing.assert_close(out, image * 2, atol=2e-6, rtol=0)


def test_forward_of_other_precision_returns_float32() -> None:
    image = torch.rand(1, 3, 40, 40)
    out = tiled_forward(image, lambda b: b.to(torch.bfloat16), tile=16, overlap=4)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, image, atol=1e-2, rtol=0)


def test_forward_returning_the_wrong_shape_is_an_error() -> None:
    with pytest.raises(InvalidArgumentError, match="forward returned shape"):
        tiled_forward(torch.rand(1, 3, 40, 40), lambda b: b[:, :, :-1], tile=16, overlap=4)


def test_no_autograd_graph_is_kept() -> None:
    conv = _conv_forward(1)
    out = tiled_forward(torch.rand(1, 3, 40, 40), conv, tile=16, overlap=4)
    assert not out.requires_grad
