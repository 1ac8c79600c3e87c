"""Shared fixtures. Real data lives in ../shared/data (or $BIOVEIL_DATA), never in this repository.

Tests that need it use the ``data`` fixture: without the data they skip on a developer's machine,
and fail when BIOVEIL_REQUIRE_DATA=1 (as in CI), so missing data never passes silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BIOVEIL_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data() -> Path:
    if not (DATA / "README.md").exists():
        message = f"real test data not found at {DATA}; set BIOVEIL_DATA or put shared/ beside the repository"
        if os.environ.get("BIOVEIL_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return DATA
