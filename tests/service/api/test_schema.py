"""The OpenAPI schema tells the truth: schemathesis, with every check, against the real service.

Bounded and seeded (the same cases every run); the service runs with an API key so that the auth checks
(`ignored_auth`) are exercised too. Rules a JSON Schema cannot state are in `schema_hooks.py`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

KEY = "schema-test-key"


def test_schemathesis_finds_no_failure_with_all_checks(aha_server, tmp_path: Path):
    server = aha_server({"AHA_API_KEYS": KEY, "AHA_WORKERS": "2"})
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    cmd = [
        binary, "run", f"{server.url}/openapi.json",
        "--header", f"Authorization: Bearer {KEY}",
        "--checks", "all",
        "--max-examples", "50",
        "--seed", "20261201",
        "--workers", "1",
        "--request-timeout", "60",
        "--generation-database", "none",
        "--no-color",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": "tests.service.api.schema_hooks"}
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    assert "generated" in output and "6/6" in output  # every operation was tested, cases were generated
