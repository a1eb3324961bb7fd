"""The docker backend.

Without an engine: the container configuration goes through the SDK's own request builders, the tar in and out,
the stream decoder, the verdict rules, the images, and how the backend fails when no engine is there. With an
engine (`docker.from_env().ping()` works): real runs, one per property, skipped otherwise with the real error.
"""

from __future__ import annotations

import io
import re
import signal
import socket
import stat
import tarfile
import threading
import time

import docker
import pytest
from docker.models.containers import _create_container_args
from docker.types import ContainerConfig

from sandboxes import Limits, RunResult, RunSpec, RunStatus, get_recipe, get_sandbox, isolation_report
from sandboxes import docker as db
from sandboxes.languages import RECIPES, resolve_tool
from sandboxes.programs import compile_program, prepared, run_program

BOGUS_ENGINE = "unix:///nonexistent/aha-test/docker.sock"


def _request_body(shape: db.ContainerShape, settings: db.DockerSettings) -> dict:
    """The JSON body `containers.create(**kwargs)` would POST, built by the SDK's own code (no engine needed)."""
    kwargs = dict(db.container_kwargs(shape, settings, "host:1"), version="1.44")
    create = _create_container_args(kwargs)  # what DockerClient.containers.create does first
    create.pop("use_config_proxy")  # consumed by APIClient.create_container before ContainerConfig
    return ContainerConfig("1.44", **create)


def _shape(**kw) -> db.ContainerShape:
    base = {
        "image": "aha-sandbox-python",
        "memory_mb": 256,
        "pids": 32,
        "cpu_s": 3,
        "file_size_mb": 16,
        "open_files": 64,
        "stack_mb": 8,
        "tmpfs_mb": 32,
        "box_writable": False,
    }
    return db.ContainerShape(**{**base, **kw})


# ---------------------------------------------------------------------------------------------------------------
# Without an engine


def test_container_config_is_locked_down():
    settings = db.DockerSettings()
    body = _request_body(_shape(), settings)
    host = body["HostConfig"]
    assert host["NetworkMode"] == "none" and body["NetworkDisabled"] is True
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] == 256 << 20 and host["MemorySwap"] == host["Memory"]  # no swap
    assert host["PidsLimit"] == 32 + 3  # the program's pids plus init, sleep and the timeout wrapper
    assert host["CapDrop"] == ["ALL"] and "CapAdd" not in host
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert "Privileged" not in host and host["IpcMode"] == "private" and host["CgroupnsMode"] == "private"
    assert host["Init"] is True
    uid, gid = (int(x) for x in body["User"].split(":"))
    assert uid > 0 and gid > 0 and uid != settings.uid  # the container's own user is neither root nor the program's
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]}
    assert ulimits == {
        "cpu": (3, 4),
        "fsize": (16 << 20, 16 << 20),
        "nofile": (64, 64),
        "stack": (8 << 20, 8 << 20),
        "core": (0, 0),
    }
    assert "nproc" not in ulimits  # host-wide per uid: the pids cgroup bounds the container instead
    assert host["Tmpfs"] == {"/tmp": "rw,exec,nosuid,nodev,size=32m,mode=1777"}
    # no host path is mounted: /box is an anonymous tmpfs volume, nothing is bound
    assert "Binds" not in host and "VolumesFrom" not in host and "Devices" not in host
    (box,) = host["Mounts"]
    assert box["Type"] == "volume" and box["Target"] == "/box" and box["Source"] == "" and not box["ReadOnly"]
    driver = box["VolumeOptions"]["DriverConfig"]
    assert driver["Name"] == "local"
    assert driver["Options"]["type"] == "tmpfs" and driver["Options"]["device"] == "tmpfs"
    assert driver["Options"]["o"] == "nosuid,nodev,size=32m,mode=0755"  # read-only box: root owns it
    assert box["VolumeOptions"]["NoCopy"] is True
    assert host["LogConfig"]["Type"] == "none"
    assert body["Labels"][db.LABEL] == "1" and body["Labels"][db.OWNER_LABEL] == "host:1"
    assert body["Cmd"] == ["sleep", "infinity"] and body["Image"] == "aha-sandbox-python"
    assert not any(e.lower().startswith(("http_proxy", "https_proxy")) for e in body["Env"])


def test_writable_box_belongs_to_the_program_user():
    settings = db.DockerSettings(uid=12345, gid=23456, keeper_uid=12344)
    body = _request_body(_shape(box_writable=True), settings)
    opts = body["HostConfig"]["Mounts"][0]["VolumeOptions"]["DriverConfig"]["Options"]["o"]
    assert opts.endswith(",uid=12345,gid=23456")
    assert body["User"] == "12344:12344"


def test_runtime_setting_is_passed():
    body = _request_body(_shape(), db.DockerSettings(runtime="runsc"))
    assert body["HostConfig"]["Runtime"] == "runsc"


def test_shape_from_spec_rounds_cpu_up():
    spec = RunSpec(argv=["true"], limits=Limits(cpu_s=1.2, memory_mb=100, pids=7), box_writable=True)
    shape = db.ContainerShape.for_spec(spec, "img")
    assert (shape.cpu_s, shape.memory_mb, shape.pids, shape.box_writable, shape.image) == (2, 100, 7, True, "img")


def test_settings_refuse_root_and_shared_uids(monkeypatch):
    monkeypatch.setenv("AHA_SANDBOX_DOCKER_UID", "0")
    with pytest.raises(ValueError):
        db.DockerSettings.from_env()
    monkeypatch.setenv("AHA_SANDBOX_DOCKER_UID", "10000")  # the keeper's uid
    with pytest.raises(ValueError):
        db.DockerSettings.from_env()
    monkeypatch.setenv("AHA_SANDBOX_DOCKER_UID", "20000")
    assert db.DockerSettings.from_env().user == "20000:20000"


def test_box_archive_paths_modes_owners(tmp_path):
    (tmp_path / "main.py").write_text("print(1)\n")
    (tmp_path / "main").write_bytes(b"\x7fELF")
    (tmp_path / "main").chmod(0o700)
    (tmp_path / "data" / "deep").mkdir(parents=True)
    (tmp_path / "data" / "deep" / "in.txt").write_bytes(b"x" * 3)
    (tmp_path / "data" / "deep" / "in.txt").chmod(0o600)
    (tmp_path / "link").symlink_to("/etc/passwd")
    (tmp_path / "dirlink").symlink_to(tmp_path / "data")
    with tarfile.open(fileobj=io.BytesIO(db.box_archive(tmp_path, 10001, 10002))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"main.py", "main", "data", "data/deep", "data/deep/in.txt"}
        assert members["main.py"].isreg() and members["main.py"].mode == 0o644
        assert members["main"].mode == 0o755  # executables stay executable (compiled programs)
        assert members["data"].isdir() and members["data"].mode == 0o755
        assert members["data/deep/in.txt"].mode == 0o644 and members["data/deep/in.txt"].size == 3
        assert {(m.uid, m.gid) for m in members.values()} == {(10001, 10002)}
        assert tar.extractfile("main.py").read() == b"print(1)\n"
    with tarfile.open(fileobj=io.BytesIO(db.box_archive(tmp_path))) as tar:
        assert {(m.uid, m.gid) for m in tar.getmembers()} == {(0, 0)}


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


def test_extract_box_archive_takes_only_what_stays_in_the_box(tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (box / "hostlink").symlink_to(outside)  # a symlink already on the host side must not be written through
    data = _tar(
        [
            (_info("box", tarfile.DIRTYPE, 0o755), None),
            (_info("box/main", mode=0o4755), b"binary"),
            (_info("box/sub", tarfile.DIRTYPE, 0o700), None),
            (_info("box/sub/out.txt"), b"hello"),
            (_info("box/../escape.txt"), b"no"),
            (_info("/abs.txt"), b"no"),
            (_info("elsewhere/x.txt"), b"no"),
            (_info("box/sym", tarfile.SYMTYPE, link="/etc/passwd"), None),
            (_info("box/hard", tarfile.LNKTYPE, link="box/main"), None),
            (_info("box/dev", tarfile.CHRTYPE), None),
            (_info("box/hostlink/through.txt"), b"no"),
        ]
    )
    assert db.extract_box_archive(data, box, strip="box") == 2
    assert (box / "main").read_bytes() == b"binary"
    assert stat.S_IMODE((box / "main").stat().st_mode) == 0o755  # no setuid comes back
    assert (box / "sub" / "out.txt").read_bytes() == b"hello"
    assert not (box / "sym").exists() and not (box / "hard").exists() and not (box / "dev").exists()
    assert not (tmp_path / "escape.txt").exists() and list(outside.iterdir()) == []
    assert not (box / "x.txt").exists()


def test_member_path():
    assert str(db.member_path("box/a/b", "box")) == "a/b"
    assert str(db.member_path("./box/", "box")) == "."
    assert db.member_path("other/a", "box") is None
    assert db.member_path("box/../a", "box") is None
    assert db.member_path("/box/a", "box") is None
    assert str(db.member_path("./a")) == "a"


def test_frame_decoder_any_split():
    frames = [(1, b"hello "), (2, b"oops"), (1, b""), (1, b"world" * 1000), (3, b"daemon says no")]
    wire = b"".join(bytes([s, 0, 0, 0]) + len(p).to_bytes(4, "big") + p for s, p in frames)
    for step in (1, 3, 7, 8, 9, 4096, len(wire)):
        dec = db.FrameDecoder()
        got: dict[int, bytes] = {1: b"", 2: b"", 3: b""}
        for i in range(0, len(wire), step):
            for stream, data in dec.feed(wire[i : i + step]):
                got[stream] += data
        assert got == {1: b"hello " + b"world" * 1000, 2: b"oops", 3: b"daemon says no"}, step


def _judge(**kw) -> RunResult:
    limits = Limits(cpu_s=2, wall_s=4, memory_mb=64, output_bytes=100, file_size_mb=1)
    return db.classify(db.ExecOutcome(**kw), limits)


def test_classify_mirrors_bwrap_rules():
    assert _judge(exit_code=0, stdout=bytearray(b"hi")).status == RunStatus.OK
    res = _judge(exit_code=3)
    assert (res.status, res.exit_code, res.signal) == (RunStatus.RUNTIME_ERROR, 3, None)
    assert _judge(killed_reason="wall", wall_s=4.0).status == RunStatus.TIME_LIMIT
    flood = _judge(killed_reason="output", stdout=bytearray(b"x" * 100), stdout_truncated=True)
    assert flood.status == RunStatus.OUTPUT_LIMIT and flood.stdout_truncated
    assert _judge(exit_code=137, oom_killed=True).status == RunStatus.MEMORY_LIMIT
    assert _judge(exit_code=1, stderr=bytearray(b"MemoryError")).status == RunStatus.MEMORY_LIMIT
    abort = _judge(exit_code=128 + signal.SIGABRT, stderr=bytearray(b"std::bad_alloc"))
    assert abort.status == RunStatus.MEMORY_LIMIT
    cpu = _judge(exit_code=128 + signal.SIGXCPU, cpu_s=2.0)
    assert (cpu.status, cpu.signal) == (RunStatus.TIME_LIMIT, signal.SIGXCPU)
    assert _judge(exit_code=128 + signal.SIGXCPU, cpu_known=False).status == RunStatus.TIME_LIMIT
    # the kernel's SIGXCPU even when the cgroup's CPU figure reads a little under the limit (contention)
    assert _judge(exit_code=128 + signal.SIGXCPU, cpu_s=1.86).status == RunStatus.TIME_LIMIT
    assert _judge(exit_code=128 + signal.SIGKILL, cpu_s=3.0).status == RunStatus.TIME_LIMIT
    assert _judge(exit_code=128 + signal.SIGKILL, cpu_s=0.1).status == RunStatus.RUNTIME_ERROR
    assert _judge(exit_code=128 + signal.SIGXFSZ).status == RunStatus.OUTPUT_LIMIT
    segv = _judge(exit_code=128 + signal.SIGSEGV)
    assert (segv.status, segv.exit_code, segv.signal) == (RunStatus.RUNTIME_ERROR, None, signal.SIGSEGV)
    assert _judge(exit_code=None, system=bytearray(b"no such exec")).status == RunStatus.SANDBOX_ERROR


def test_oom_kills_parser():
    assert db.oom_kills("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n") == 1
    assert db.oom_kills("oom 0\noom_kill 0\n") == 0
    assert db.oom_kills("") == 0


def test_container_argv_uses_the_image_tool_and_a_timeout_backstop():
    host_python = resolve_tool("python3")
    argv0 = host_python or "python3"
    spec = RunSpec(argv=[argv0, "-I", "/box/main.py"], limits=Limits(wall_s=2.5), language="python")
    assert db.container_argv(spec) == ["timeout", "--signal=KILL", "5s", "python3", "-I", "/box/main.py"]
    compiled = RunSpec(argv=["/box/main"], language="c")
    assert db.container_argv(compiled)[3:] == ["/box/main"]
    assert db.gated(["echo", "a b"]) == ["sh", "-c", db.GATE, "sh", "echo", "a b"]


def test_exec_env_keeps_the_image_path():
    env = db.exec_env(RunSpec(argv=["x"], env={"GOCACHE": "/tmp/gocache"}))
    assert "PATH" not in env and env["HOME"] == "/tmp" and env["GOCACHE"] == "/tmp/gocache"


def test_image_names(monkeypatch):
    monkeypatch.delenv("AHA_SANDBOX_DOCKER_IMAGE_PREFIX", raising=False)
    monkeypatch.delenv("AHA_SANDBOX_DOCKER_IMAGE_CPP", raising=False)
    assert db.image_for("python") == "aha-sandbox-python"
    assert db.image_for("c++") == db.image_for("c") == "aha-sandbox-gcc"
    assert db.image_for("js") == "aha-sandbox-nodejs"
    assert db.image_for(None) == "aha-sandbox-python"
    monkeypatch.setenv("AHA_SANDBOX_DOCKER_IMAGE_PREFIX", "registry.local/aha-")
    assert db.image_for("golang") == "registry.local/aha-go"
    monkeypatch.setenv("AHA_SANDBOX_DOCKER_IMAGE_CPP", "mirror/gcc:13")
    assert db.image_for("cpp") == "mirror/gcc:13" and db.image_for("c") == "registry.local/aha-gcc"


def _final_user(text: str) -> str:
    users = re.findall(r"^USER\s+(\S+)\s*$", text, re.MULTILINE)
    assert users, "the image must set a USER"
    return users[-1].split(":")[0]


def test_base_image_creates_the_users_and_ends_unprivileged():
    text = (db.IMAGES_DIR / "base" / "Dockerfile").read_text()
    assert re.search(r"^FROM debian:bookworm-slim$", text, re.MULTILINE)
    defaults = db.DockerSettings()
    for uid in (defaults.uid, defaults.keeper_uid):  # the users the backend runs as exist in the image
        assert re.search(rf"useradd --uid {uid}\b", text)
    final = _final_user(text)
    assert final.isdigit() and int(final) == defaults.uid


@pytest.mark.parametrize("language", sorted(RECIPES))
def test_every_recipe_has_a_non_root_image(language):
    path = db.dockerfile(language)
    assert path.is_file(), f"no Dockerfile for {language}: {path}"
    text = path.read_text()
    assert re.search(r"^ARG BASE=aha-sandbox-base$", text, re.MULTILINE) and "FROM ${BASE}" in text
    final = _final_user(text)
    assert final not in ("0", "root") and final.isdigit() and int(final) == db.DockerSettings().uid
    readme = (db.IMAGES_DIR / "README.md").read_text()
    assert readme.count(f"aha-sandbox-{path.parent.name}") >= 1 and "aha-sandbox-base" in readme


def test_get_sandbox_docker_without_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", BOGUS_ENGINE)
    sandbox = get_sandbox("docker")
    assert isinstance(sandbox, db.DockerSandbox) and sandbox.name == "docker"
    res = sandbox.run(RunSpec(argv=["true"], language="python"))
    assert res.status == RunStatus.SANDBOX_ERROR
    assert res.reason.startswith("no Docker engine reachable: "), res.reason
    assert len(res.reason) > len("no Docker engine reachable: ")  # the real error follows
    sandbox.close()


def test_docker_sandbox_without_engine_never_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", BOGUS_ENGINE)
    with db.DockerSandbox() as sandbox:
        (tmp_path / "main.py").write_text("print(1)")
        for _ in range(2):  # the second answer comes from the remembered failure
            res = sandbox.run(RunSpec(argv=["python3", "/box/main.py"], box=tmp_path, language="python"))
            assert res.status == RunStatus.SANDBOX_ERROR and res.reason.startswith("no Docker engine reachable")


def test_docker_report_without_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", BOGUS_ENGINE)
    rep = db.docker_report()
    assert rep["backend"] == "docker" and rep["usable"] is False
    assert rep["reason"].startswith("no Docker engine reachable: ")
    assert rep["network"].startswith("none") and rep["root"] == "read-only"


def _engine_error() -> str | None:
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"no Docker engine reachable: {exc}"
    return None


def test_isolation_report_says_why_docker_is_unusable():
    why = _engine_error()
    if why is None:
        pytest.skip("a Docker engine is reachable here")
    rep = isolation_report("docker")
    assert rep["backend"] == "docker" and rep["usable"] is False
    assert rep["reason"].startswith("no Docker engine reachable: ")


# ---------------------------------------------------------------------------------------------------------------
# With an engine


@pytest.fixture(scope="module")
def engine_sandbox():
    why = _engine_error()
    if why is not None:
        pytest.skip(why)
    sandbox = db.DockerSandbox()
    yield sandbox
    sandbox.close()


def _need_image(language: str) -> None:
    image = db.image_for(language)
    client = docker.from_env()
    try:
        client.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        pytest.skip(f"image {image} not built (see sandboxes/images/README.md)")
    finally:
        client.close()


def _py(sandbox: db.DockerSandbox, code: str, stdin: bytes = b"", **limits) -> RunResult:
    _need_image("python")
    recipe = get_recipe("python")
    with prepared(recipe, code) as prog:
        return run_program(sandbox, prog, stdin=stdin, limits=Limits(**limits))


def test_engine_runs_python_with_stdin(engine_sandbox):
    res = _py(engine_sandbox, "import sys\nprint(sys.stdin.read().upper(), end='')", stdin=b"hello")
    assert res.status == RunStatus.OK and res.stdout == b"HELLO", res
    assert res.wall_s > 0 and res.cpu_s >= 0


def test_engine_exit_code_and_stderr(engine_sandbox):
    res = _py(engine_sandbox, "import sys\nsys.stderr.write('bad')\nsys.exit(3)")
    assert (res.status, res.exit_code, res.stderr) == (RunStatus.RUNTIME_ERROR, 3, b"bad")


def test_engine_output_flood(engine_sandbox):
    res = _py(engine_sandbox, "while True: print('x' * 1000)", output_bytes=10_000)
    assert res.status == RunStatus.OUTPUT_LIMIT and res.stdout_truncated and len(res.stdout) == 10_000


def test_engine_wall_limit(engine_sandbox):
    res = _py(engine_sandbox, "import time\ntime.sleep(30)", wall_s=1.5)
    assert res.status == RunStatus.TIME_LIMIT and res.wall_s < 10


def test_engine_cpu_limit(engine_sandbox):
    res = _py(engine_sandbox, "while True: pass", cpu_s=1, wall_s=10)
    assert res.status == RunStatus.TIME_LIMIT, res


def test_engine_memory_limit(engine_sandbox):
    res = _py(engine_sandbox, "b = []\nwhile True: b.append(bytearray(1 << 20))", memory_mb=64, wall_s=20)
    assert res.status == RunStatus.MEMORY_LIMIT, res


def test_engine_no_network_read_only_non_root(engine_sandbox):
    code = """
import os, socket
print(os.getuid() != 0)
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2); print("net")
except OSError:
    print("no net")
for path in ("/etc/x", "/usr/x", "/box/x"):
    try:
        open(path, "w"); print("wrote", path)
    except OSError:
        print("refused")
open("/tmp/ok", "w").write("fine"); print("tmp ok")
"""
    res = _py(engine_sandbox, code)
    assert res.stdout.decode().split("\n")[:6] == ["True", "no net", "refused", "refused", "refused", "tmp ok"], res


def test_engine_nothing_leaks_between_runs(engine_sandbox):
    first = _py(engine_sandbox, "open('/tmp/marker', 'w').write('1'); print('ok')")
    assert first.status == RunStatus.OK
    second = _py(engine_sandbox, "import os; print(os.path.exists('/tmp/marker'))")
    assert second.stdout == b"False\n"


def test_engine_fork_bomb_is_contained(engine_sandbox):
    res = _py(engine_sandbox, "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass", wall_s=3, pids=16)
    assert res.status in (RunStatus.TIME_LIMIT, RunStatus.RUNTIME_ERROR), res


def test_engine_compile_and_run_c(engine_sandbox):
    _need_image("c")
    recipe = get_recipe("c")
    code = '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);return 0;}\n'
    with prepared(recipe, code) as prog:
        comp = compile_program(engine_sandbox, prog)
        assert comp is not None and comp.status == RunStatus.OK, comp
        assert (prog.box / "main").is_file()  # the binary came back out of the container
        res = run_program(engine_sandbox, prog, stdin=b"2 40\n", limits=Limits())
        assert res.status == RunStatus.OK and res.stdout == b"42\n", res


def test_engine_writable_box_comes_back(engine_sandbox):
    _need_image("python")
    recipe = get_recipe("python")
    with prepared(recipe, "open('/box/out.txt', 'w').write('result')") as prog:
        res = run_program(engine_sandbox, prog, limits=Limits(), box_writable=True, cwd="/box")
        assert res.status == RunStatus.OK, res
        assert (prog.box / "out.txt").read_text() == "result"


def test_engine_used_containers_are_removed(engine_sandbox):
    _need_image("python")
    sandbox = db.DockerSandbox(db.DockerSettings(pool_size=1))
    assert sandbox.run(RunSpec(argv=["true"], language="python")).status == RunStatus.OK
    sandbox.close()
    client = docker.from_env()
    try:
        mine = client.api.containers(all=True, filters={"label": f"{db.OWNER_LABEL}={db.owner()}"})
    finally:
        client.close()
    # what is left is the module sandbox's warm pool: never-used containers, still idling
    assert all(c["State"] == "running" for c in mine), mine


# The stream pump against the daemon's side of a hijacked exec connection, played over a socketpair.


def _daemon(sock, reply: list[tuple[int, bytes]], got: list[bytes], hold_open: float = 0.0) -> None:
    data = b""
    while chunk := sock.recv(65536):  # until the client's half-close: the end of the program's stdin
        data += chunk
    got.append(data)
    for stream, payload in reply:
        sock.sendall(bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload)
    time.sleep(hold_open)
    sock.close()


def _pump(stdin: bytes, reply, out_cap=1000, err_cap=1000, wall=5.0, hold_open=0.0):
    client, server = socket.socketpair()
    got: list[bytes] = []
    t = threading.Thread(target=_daemon, args=(server, reply, got, hold_open))
    t.start()
    outcome = db.ExecOutcome()
    try:
        db.pump(client, b"\n" + stdin, time.monotonic() + wall, out_cap, err_cap, outcome)
    finally:
        client.close()
        t.join()
    return outcome, got[0]


def test_pump_feeds_stdin_then_half_closes_and_demuxes():
    big = bytes(range(256)) * 4096  # 1 MiB of stdin: more than one socket buffer
    outcome, received = _pump(big, [(1, b"out"), (2, b"err"), (1, b"put")])
    assert received == b"\n" + big  # the gate's newline, then stdin, then EOF
    assert (bytes(outcome.stdout), bytes(outcome.stderr), outcome.killed_reason) == (b"output", b"err", "")


def test_pump_caps_stdout_and_stderr():
    outcome, _ = _pump(b"", [(2, b"e" * 50), (1, b"o" * 30)], out_cap=20, err_cap=10)
    assert outcome.stderr == b"e" * 10 and outcome.stderr_truncated
    assert outcome.stdout == b"o" * 20 and outcome.stdout_truncated and outcome.killed_reason == "output"


def test_pump_stops_at_the_deadline():
    start = time.monotonic()
    outcome, _ = _pump(b"", [(1, b"partial")], wall=0.5, hold_open=2.0)
    assert outcome.killed_reason == "wall" and outcome.stdout == b"partial"
    assert time.monotonic() - start < 2.5
