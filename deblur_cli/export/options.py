"""Export defaults and the `--size HxW` parser: torch-free, read by the CLI help and the core."""

from __future__ import annotations

import re

from ..errors import InvalidArgumentError

EXPORT_FORMATS = ("onnx",)
# 18 is the first opset the torch.onnx (dynamo) exporter emits natively; ONNX Runtime >= 1.14
# runs it, so the file stays usable on older deployments.
DEFAULT_OPSET = 18
# Largest |ONNX Runtime - PyTorch| accepted on the verification input: the full-width fp32
# tolerance of architectures §10 (harmless re-implementations move outputs by ~1e-5).
TOLERANCE = 1e-4

_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """"HxW" (or "N" for N x N) -> (H, W); positive integers only.

    Raises:
        InvalidArgumentError: anything else.
    """
    match = _SIZE.match(text)
    if not match:
        raise InvalidArgumentError(f"--size '{text}': expected HxW (e.g. 512x768) or N")
    h = int(match.group(1))
    w = int(match.group(2) or match.group(1))
    if h <= 0 or w <= 0:
        raise InvalidArgumentError(f"--size '{text}': height and width must be positive")
    return h, w
