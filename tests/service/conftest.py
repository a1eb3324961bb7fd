"""Fixtures shared by the service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of one real `aha serve` with default settings, shared by a test module (a module that needs
    other settings defines its own `url`)."""
    from tests.conftest import start_aha, stop_aha

    server = start_aha(tmp_path_factory.mktemp("aha"))
    yield server.url
    stop_aha(server)
