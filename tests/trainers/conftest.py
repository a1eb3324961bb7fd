"""Tests that drive the real trainers (TRL, verl, OpenRLHF, SandboxFusion's client) against a live Aha server.

They need the trainer environment (``.venv/trainers``, built by ``./run test``): where a trainer is not installed
its tests skip, saying so. One Aha server serves the whole directory.
"""

from __future__ import annotations

import re

import httpx
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "trainers: drives a real RL trainer (runs in the trainer environment)")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/trainers/" in str(item.fspath):
            item.add_marker(pytest.mark.trainers)


@pytest.fixture(scope="session")
def aha_url(tmp_path_factory):
    from tests.conftest import start_aha, stop_aha

    server = start_aha(tmp_path_factory.mktemp("aha"))
    yield server.url
    stop_aha(server)


def score_requests(url: str) -> int:
    """How many /v1/score requests the server has answered."""
    text = httpx.get(url + "/metrics", timeout=10).text
    match = re.search(r'^aha_request_seconds_count\{endpoint="/v1/score"\} (\S+)$', text, re.M)
    return int(float(match.group(1))) if match else 0
