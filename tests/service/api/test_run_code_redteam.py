"""Red-team findings against `POST /run_code`, each replayed against a real uvicorn server and the real sandbox."""

from __future__ import annotations

import base64
import glob
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sandboxes import SandboxSettings, available_languages, languages
from service.settings import Settings
from tests.service.api.test_run_code import serve

pytestmark = pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing")

KIB = 1024
SETTINGS = Settings(
    run_code_max_timeout_s=3.0,
    run_code_max_memory_mb=256,
    run_code_default_memory_mb=128,
    run_code_max_output_bytes=64 * KIB,
    run_code_max_files=8,
    run_code_max_file_bytes=512 * KIB,
    run_code_max_fetch_bytes=1024 * KIB,
    run_code_box_mb=1,
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve(SETTINGS) as url:
        yield url


def post(server: str, timeout: float = 60, **body: object) -> requests.Response:
    payload = {"language": "python", "run_timeout": 2, **body}
    return requests.post(f"{server}/run_code", json=payload, timeout=timeout)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# 1. Directory symlinks planted by the program were followed on the host side, as root.
def test_fetch_follows_no_symlink_anywhere_in_the_path(server: str) -> None:
    code = """
import os
os.symlink("/", "r")
os.symlink("/etc", "e")
os.mkdir("d")
os.symlink("/etc", "d/e")
os.symlink("/etc/shadow", "s")
os.symlink("/proc/self", "p")
open("ok.txt", "w").write("fine")
"""
    names = ["r/etc/shadow", "r/etc/hostname", "e/shadow", "d/e/shadow", "s", "p/environ", "ok.txt"]
    r = post(server, code=code, fetch_files=names).json()
    assert r["status"] == "Success", r
    assert r["files"] == {"ok.txt": b64(b"fine")}


def test_files_sent_are_written_inside_the_box_only(server: str, tmp_path: Path) -> None:
    # nested paths are made dir by dir; a file where a dir is wanted is a clear error, not a 500
    files = {"a/b/c.txt": b64(b"deep"), "a/x.txt": b64(b"x")}
    r = post(server, code="print(open('a/b/c.txt').read(), open('/box/a/x.txt').read())", files=files).json()
    assert r["status"] == "Success" and r["run_result"]["stdout"] == "deep x\n", r
    r = post(server, code="print(1)", files={"a": b64(b"file"), "a/b": b64(b"under a file")})
    assert r.status_code == 200 and r.json()["status"] == "SandboxError", r.text
    assert "Not a directory" in r.json()["message"]


# 2. A FIFO (or socket) in fetch_files blocked a server thread forever.
def test_fetch_skips_fifos_and_sockets_without_blocking(server: str) -> None:
    code = """
import os, socket
os.mkfifo("f")
socket.socket(socket.AF_UNIX).bind("s")
open("ok.txt", "w").write("fine")
"""
    try:
        r = post(server, timeout=20, code=code, fetch_files=["f", "s", "ok.txt"]).json()
    finally:  # on a server that blocks in open(), let it go, so this test fails rather than hangs
        for fifo in glob.glob(str(languages.work_root() / "box-*" / "f")):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    assert r["status"] == "Success", r
    assert r["files"] == {"ok.txt": b64(b"fine")}


# 3. Timeouts and memory came from the caller with no cap; NaN, Infinity, 1e300 reached the sandbox.
@pytest.mark.parametrize("field", ["run_timeout", "compile_timeout"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e300", "-1", "0"])
def test_timeouts_must_be_finite_and_positive(server: str, field: str, value: str) -> None:
    body = f'{{"language": "python", "code": "print(1)", "{field}": {value}}}'
    r = requests.post(f"{server}/run_code", data=body, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 422, (r.status_code, r.text)


def test_timeouts_and_memory_above_the_caps_are_clamped_and_reported(server: str) -> None:
    r = post(server, code="while True: pass", run_timeout=100).json()
    assert r["status"] == "Failed" and r["run_result"]["status"] == "TimeLimitExceeded", r
    assert r["run_result"]["execution_time"] < 10, r
    assert "run_timeout 100" in r["message"] and "3.0 s" in r["message"], r["message"]
    # 400 MB fits what was asked, not the 256 MB cap
    r = post(server, code="b = bytearray(400 << 20)\nprint('allocated')", memory_limit_MB=200_000).json()
    assert r["status"] == "Failed", r
    assert "allocated" not in r["run_result"]["stdout"]
    assert "memory_limit_MB 200000" in r["message"] and "256 MB" in r["message"], r["message"]
    r = post(server, code="print('ok')", memory_limit_MB=-1).json()
    assert r["status"] == "Success" and r["message"] == "", r


def test_output_is_capped(server: str) -> None:
    r = post(server, code="print('x' * (200 * 1024))").json()
    assert r["status"] == "Failed" and "stdout over" in r["message"], r
    assert len(r["run_result"]["stdout"]) <= 64 * KIB
    r = post(server, code="import sys\nsys.stderr.write('e' * (200 * 1024))").json()
    assert r["status"] == "Success" and len(r["run_result"]["stderr"]) <= 64 * KIB, r
    assert "stderr cut" in r["message"]


def test_files_sent_are_capped_in_number_and_size(server: str) -> None:
    r = post(server, code="print(1)", files={f"f{i}": b64(b"x") for i in range(9)})
    assert r.status_code == 422, r.text
    r = post(server, code="print(1)", fetch_files=[f"f{i}" for i in range(9)])
    assert r.status_code == 422, r.text
    r = post(server, code="print(1)", files={"big": b64(b"x" * (512 * KIB + 1))})
    assert r.status_code == 413, r.text
    r = post(server, code="print(1)", files={f"f{i}": b64(b"x" * (400 * KIB)) for i in range(3)})  # > 1 MiB box
    assert r.status_code == 413, r.text
    r = post(server, code="print(1)", files={"../escape": b64(b"x")})
    assert r.status_code == 422, r.text
    r = post(server, code="print(len(open('f').read()))", files={"f": b64(b"x" * (512 * KIB))}).json()
    assert r["status"] == "Success" and r["run_result"]["stdout"] == f"{512 * KIB}\n", r


def test_writes_to_the_box_are_bounded(server: str) -> None:
    code = "with open('out', 'wb') as f:\n    for _ in range(4):\n        f.write(b'x' * (1 << 20))\nprint('wrote')"
    r = post(server, code=code).json()
    assert r["status"] == "Failed" and "wrote" not in r["run_result"]["stdout"], r


# 4. fetch_files aliases multiplied the response (8 KB asked for 320 MB).
def test_fetch_aliases_are_one_file_and_fetches_share_one_budget(server: str) -> None:
    code = """
for name in ("a", "b", "c"):
    open(name, "wb").write(name.encode() * (400 * 1024))
open("huge", "wb").write(b"h" * (600 * 1024))
open("small", "wb").write(b"s")
"""
    aliases = ["small", "./small", "././small", "/box/small", "small/", ".//small"]
    r = post(server, code=code, fetch_files=aliases).json()
    assert r["status"] == "Success", r
    assert r["files"] == {"small": b64(b"s")}
    r = post(server, code=code, fetch_files=["huge", "a", "b", "c", "small"]).json()
    assert r["status"] == "Success", r
    assert set(r["files"]) == {"a", "b", "small"}  # c is past the 1 MiB total, huge over the 512 KiB per file
    assert base64.b64decode(r["files"]["b"]) == b"b" * (400 * KIB)
    assert "huge" in r["message"] and "c (past" in r["message"], r["message"]


# 6. A full work dir was a 500 (uncaught ENOSPC).
@pytest.fixture
def tiny_work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    work = tmp_path / "tiny"
    work.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(work)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {exc}")
    monkeypatch.setenv("AHA_SANDBOX_WORK_DIR", str(work))
    try:
        yield work
    finally:
        subprocess.run(["umount", "-l", str(work)], check=False)


def test_a_full_work_dir_is_a_sandbox_error(tiny_work_dir: Path) -> None:
    # The sandbox's settings are read once, when the app's are made: a server made now has the tiny work dir.
    with serve(SETTINGS.model_copy(update={"sandbox": SandboxSettings.from_env()})) as server:
        r = post(server, code="print(1)", files={"f": b64(b"x" * (400 * KIB))})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SandboxError" and "No space left on device" in r.json()["message"], r.json()
    assert not [n for n in os.listdir(tiny_work_dir) if n.startswith("box-")]  # and nothing is left behind


# 7. `/box/...` paths: files went to /box/box/..., fetches of /box/... returned nothing.
def test_box_prefixed_paths_mean_the_box(server: str) -> None:
    code = "s = open('/box/a.txt').read()\nopen('/box/out.txt', 'w').write(s.upper())"
    r = post(server, code=code, files={"/box/a.txt": b64(b"hi")}, fetch_files=["/box/out.txt", "/box/a.txt"]).json()
    assert r["status"] == "Success", r
    assert r["files"] == {"/box/out.txt": b64(b"HI"), "/box/a.txt": b64(b"hi")}
    r = post(server, code="print(1)", files={"/etc/x": b64(b"x")})
    assert r.status_code == 422, r.text


# 8. Lone surrogates in code, stdin, names and language gave a 500.
@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"code": "print('\\ud800')"}, "Failed"),  # written as sent: the program's own syntax error
        ({"stdin": "\\ud800", "code": "import sys; print(sys.stdin.buffer.read())"}, "Success"),
        ({"files": {"\\ud800": "eA=="}}, 422),
        ({"fetch_files": ["\\ud800"]}, "Success"),
        ({"language": "py\\ud800"}, "SandboxError"),
    ],
)
def test_lone_surrogates_are_no_server_error(server: str, overrides: dict[str, object], status: str | int) -> None:
    body = json.dumps({"language": "python", "code": "print(1)", **overrides}).replace("\\\\ud800", "\\ud800")
    assert "\\ud800" in body
    r = requests.post(f"{server}/run_code", data=body, headers={"content-type": "application/json"}, timeout=60)
    if isinstance(status, int):
        assert r.status_code == status, (r.status_code, r.text)
        return
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json()["status"] == status, r.json()
    if "stdin" in overrides:
        assert r.json()["run_result"]["stdout"] == "b'\\xed\\xa0\\x80'\n", r.json()
