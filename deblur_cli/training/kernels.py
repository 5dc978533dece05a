"""Camera-shake trajectories and the blur kernels rasterised from them (numpy only, no torch).

Coordinates are (x, y) in pixels with y pointing down; a kernel of odd size k has its centre
at (k // 2, k // 2), and every kernel made here has its centre of mass exactly there.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidArgumentError

# The random walk is drawn on a fixed coarse grid of steps, then resampled along its arc length
# so that splatting stays smooth whatever the blur length.
WALK_STEPS = 64
# Spacing (pixels) of the resampled path; well under a pixel so bilinear splats overlap.
SAMPLE_SPACING = 0.25
# Pull of the walk back towards its start, per step (times the distance in steps): hand tremor
# wanders around a point rather than drifting off (the "centripetal" term of Boracchi & Foi 2012).
PULL = 0.005


def shake_trajectory(
    rng: np.random.Generator,
    *,
    length: float,
    inertia: float,
    jerk_probability: float,
    exposure: float,
) -> np.ndarray:
    """A random camera path of arc length `length` px, as (N, 2) points equally spaced in time.

    A unit-speed walk whose heading keeps `inertia` of its previous direction and takes the rest
    from Gaussian noise; with probability `jerk_probability` per trajectory (spread over the steps)
    the heading flips abruptly by 180° ± 45°. The whole walk is scaled to length / exposure px
    and a random window holding `exposure` of it (the shutter-open time) is returned, so a short
    exposure of the same shake gives a straighter kernel.
    """
    steps = WALK_STEPS
    # Per-step jerk chance such that P(at least one jerk in the walk) = jerk_probability.
    per_step = 1.0 - (1.0 - jerk_probability) ** (1.0 / steps)
    heading0 = rng.uniform(0.0, 2.0 * math.pi)
    noise = rng.standard_normal((steps, 2)).tolist()
    jerk_draw = rng.random(steps).tolist()
    jerk_turn = rng.uniform(math.pi * 0.75, math.pi * 1.25, steps).tolist()
    window_start = float(rng.random())

    velocity = complex(math.cos(heading0), math.sin(heading0))
    position = 0j
    points = [position]
    for (nx, ny), draw, turn in zip(noise, jerk_draw, jerk_turn):
        velocity = inertia * velocity + (1.0 - inertia) * complex(nx, ny) - PULL * position
        if draw < per_step:
            velocity *= complex(math.cos(turn), math.sin(turn))
        speed = abs(velocity)
        velocity = velocity / speed if speed > 1e-12 else complex(math.cos(turn), math.sin(turn))
        position += velocity
        points.append(position)
    path = np.array([[p.real, p.imag] for p in points], dtype=np.float64)

    # Arc-length parameter of the walk, scaled so the exposed window is `length` px long.
    total = length / exposure
    seg = np.hypot(*np.diff(path, axis=0).T)
    scale = total / seg.sum()
    path *= scale
    arc = np.concatenate([[0.0], np.cumsum(seg * scale)])
    start = window_start * (total - length)
    n = max(2, math.ceil(length / SAMPLE_SPACING) + 1)
    s = np.linspace(start, start + length, n)
    return np.stack([np.interp(s, arc, path[:, 0]), np.interp(s, arc, path[:, 1])], axis=1)


def line_trajectory(length: float, angle_deg: float) -> np.ndarray:
    """A straight path of `length` px centred on the origin, counter-clockwise from +x (y down)."""
    theta = math.radians(angle_deg)
    direction = np.array([math.cos(theta), -math.sin(theta)])
    n = max(2, math.ceil(length / SAMPLE_SPACING) + 1)
    t = np.linspace(-length / 2.0, length / 2.0, n)
    path: np.ndarray = t[:, None] * direction[None, :]
    return path


def rasterize(points: np.ndarray, size: int) -> np.ndarray:
    """Splat a path (equal time per point) into a size×size kernel with bilinear weights.

    The path is first moved so that its mean lands on the kernel centre (bilinear splatting keeps
    the mean, so the kernel's centre of mass is the centre: blurring shifts nothing), then shrunk
    about the centre if it does not fit. The result is float32, non-negative and sums to 1.
    """
    if size < 1 or size % 2 == 0:
        raise InvalidArgumentError(f"kernel size must be an odd positive integer, got {size}")
    centre = size // 2
    p = points - points.mean(axis=0) + centre
    half = np.abs(p - centre).max()
    if half > centre:
        p = centre + (p - centre) * (centre / half)
    # Clamp the base index to size-2 so a point on the last row/column puts its weight there.
    base = np.minimum(np.floor(p).astype(np.int64), max(size - 2, 0))
    frac = p - base
    kernel = np.zeros(size * size, dtype=np.float64)
    if size == 1:
        kernel[0] = 1.0
        return kernel.reshape(1, 1).astype(np.float32)
    x0, y0 = base[:, 0], base[:, 1]
    fx, fy = frac[:, 0], frac[:, 1]
    for dy, dx, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (0, 1, fx * (1 - fy)),
        (1, 0, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        kernel += np.bincount((y0 + dy) * size + (x0 + dx), weights=w, minlength=size * size)
    kernel = np.maximum(kernel, 0.0)
    normalised: np.ndarray = (kernel / kernel.sum()).reshape(size, size).astype(np.float32)
    return normalised


def line_kernel(length: float, angle_deg: float, size: int) -> np.ndarray:
    """Uniform linear-motion kernel: a segment of `length` px at `angle_deg` (counter-clockwise
    from +x, y down) in an odd size×size float32 kernel; length 0 is the identity (delta)."""
    if not length >= 0.0 or length > size - 1:
        raise InvalidArgumentError(
            f"line length must be in [0, {size - 1}] for a {size}×{size} kernel, got {length}"
        )
    return rasterize(line_trajectory(length, angle_deg), size)


def kernel_centroid(kernel: np.ndarray) -> tuple[float, float]:
    """Centre of mass (x, y) of a kernel, in pixels from its top-left corner."""
    k = kernel.astype(np.float64)
    ys, xs = np.indices(k.shape)
    total = k.sum()
    return float((k * xs).sum() / total), float((k * ys).sum() / total)
