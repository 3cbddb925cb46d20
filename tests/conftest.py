from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.broker", "tests.fixtures.graph", "tests.fixtures.pipeline"]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the clone (CI has it; a user's clone may not)."""
    path = REPO.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip("../shared/data is not beside this clone")
    return path
