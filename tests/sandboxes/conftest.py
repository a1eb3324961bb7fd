"""Programs run through two paths of the bwrap backend: the warm box (the default) and a cold sandbox per run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(params=["warm", "cold"])
def python_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test once with runs in the warm box and once in a cold bwrap sandbox per run."""
    monkeypatch.setenv("AHA_SANDBOX_WARM", "1" if request.param == "warm" else "0")
    yield request.param
