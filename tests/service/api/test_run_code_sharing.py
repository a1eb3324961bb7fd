"""`/run_code` cannot take every sandbox slot from `/v1/score` (red-team row 5: two long calls timed code items out)."""

from __future__ import annotations

import threading
import time

import pytest

from sandboxes import available_languages

pytestmark = pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing")

CODE_ITEM = {
    "task": "code",
    "completion": "```python\nprint(int(input()) * 2)\n```",
    "reference": {"language": "python", "tests": [{"stdin": "21\n", "stdout": "42\n"}]},
}


def test_long_run_code_calls_leave_slots_for_scoring(aha_server):
    server = aha_server({"AHA_RUN_CODE_CONCURRENCY": "1", "AHA_SANDBOX_SLOTS": "2", "AHA_WORKERS": "2"})
    replies: list[int] = []

    def long_call() -> None:
        with server.client() as c:
            body = {"code": "import time; time.sleep(4)", "language": "python", "run_timeout": 10}
            replies.append(c.post("/run_code", json=body).status_code)

    first = threading.Thread(target=long_call)
    first.start()
    time.sleep(1.0)
    with server.client() as c:
        busy = c.post("/run_code", json={"code": "print(1)", "language": "python"})
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
        started = time.monotonic()
        scored = c.post("/v1/score", json={"items": [CODE_ITEM], "use_cache": False}).json()["results"][0]
        assert scored["reward"] == 1.0, scored
        assert time.monotonic() - started < 3.5  # not queued behind the long run
    first.join(30)
    assert replies == [200]
    with server.client() as c:
        assert c.post("/run_code", json={"code": "print(1)", "language": "python"}).json()["status"] == "Success"
