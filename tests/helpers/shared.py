"""Where the shared fixtures live: `../shared` beside the checkout, or `$DEBLUR_SHARED`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DEBLUR_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path inside ../shared; fails the test loudly (never skips) when the folder is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(
            f"missing {path}: the tests need the shared fixtures folder beside the checkout "
            f"(set DEBLUR_SHARED to its location)",
            pytrace=False,
        )
    return path
