"""Fixtures shared by the whole suite; plain helpers live in `tests/helpers/`."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.shared import shared_path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return shared_path()
