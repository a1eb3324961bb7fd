"""In-sandbox harness for Python function-call and assert-style tests (a standalone script; stdlib only).

Two processes, so the program never shares memory with the judge:
- the *runner* (this script, `runner` mode) makes itself non-dumpable (so nothing of the same uid can ptrace it
  or open its /proc fds), forks the first *worker*, and only then reads the job from stdin: a per-run secret, the
  tests (argument lists, or assert-style test code), the limits;
- the *worker* loads the program and answers call requests over a pipe with plain serialized values. Its stdin
  is /dev/null and its stdout goes to stderr. The first one is forked before the job exists in any memory (so it
  costs no interpreter start-up and still holds nothing secret); for the next assert-style tests, workers are
  forked from a *spare* copy of the runner made before the job was read (the job's first byte says whether one is
  needed); any other later one (after a kill) is a fresh interpreter via exec, since by then the runner's memory
  holds the job.

The runner executes test code itself, with the program's functions replaced by proxies that call into the
worker, so `assert candidate(x) == y` compares plain values in a process the program cannot touch. It writes one
JSON record per test to stdout and, last, the secret: a run without it proves nothing and earns nothing.
"""

import _json
import builtins
import os
import select
import sys
import time

from verifiers.code.codec import CodecError, dec, enc

PROGRAM = "/box/main.py"
MAX_MSG = 64 << 20
TICK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------------------ json
# The C scanner and encoder behind the `json` module, driven directly: `import json` pulls in `re` and `enum`
# (~8 ms of every run's start-up), which the runner does not otherwise need. Same parser, same output as
# `json.loads`/`json.dumps` with their defaults; the `json` package is only imported to report a parse error.
class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


_scan = _json.make_scanner(_ScanContext())
_WS = " \t\n\r"


def _not_serializable(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def loads(s):
    """`json.loads` (ValueError on anything but exactly one JSON document)."""
    if isinstance(s, (bytes, bytearray)):
        s = bytes(s).decode("utf-8", "surrogatepass")
    n = len(s)
    i = 0
    while i < n and s[i] in _WS:
        i += 1
    try:
        obj, end = _scan(s, i)
    except StopIteration:
        raise ValueError("Expecting value") from None
    while end < n and s[end] in _WS:
        end += 1
    if end != n:
        raise ValueError("Extra data")
    return obj


def dumps(obj):
    """`dumps(obj)` with its defaults (ASCII, circular check, NaN allowed)."""
    encoder = _json.make_encoder(
        {}, _not_serializable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return "".join(encoder(obj, 0))


# ----------------------------------------------------------------------------------------------- worker side
def worker_main(req_fd, resp_fd):
    """Load the program, then answer {"op": "call"|"names"} requests until the request pipe closes."""
    rf = os.fdopen(req_fd, "rb")
    wf = os.fdopen(resp_fd, "wb", buffering=0)

    def send(obj):
        try:
            data = dumps(obj).encode()
        except (TypeError, ValueError) as exc:
            data = dumps({"err": "TypeError", "msg": f"unserializable: {exc}"}).encode()
        wf.write(data + b"\n")

    ns = {"__name__": "solution", "__builtins__": builtins}
    try:
        with open(PROGRAM, encoding="utf-8") as fh:
            code = compile(fh.read(), PROGRAM, "exec")
    except SyntaxError as exc:
        send({"load_err": "SyntaxError", "msg": f"line {exc.lineno}: {exc.msg}", "syntax": True})
        return
    try:
        exec(code, ns)
    except BaseException as exc:  # noqa: B036 - sys.exit() while loading is a failure, not an exit
        send({"load_err": type(exc).__name__, "msg": str(exc)[:500]})
        return
    send({"ready": True})
    for line in rf:
        try:
            req = loads(line)
            if req["op"] == "names":
                send({"names": _describe(ns)})
                continue
            fn = _resolve(ns, req["fn"])
            args = dec(req.get("args", {"T": []}))
            kwargs = dec(req.get("kwargs", {"D": []}))
            result = fn(*args, **kwargs)
            send({"ok": enc(result)})
        except BaseException as exc:  # noqa: B036 - a SystemExit inside the function fails that call
            send({"err": type(exc).__name__, "msg": str(exc)[:500]})


def _resolve(ns, name):
    sol = ns.get("Solution")
    if isinstance(sol, type) and hasattr(sol, name):
        return getattr(sol(), name)  # LeetCode style: a fresh instance per call
    fn = ns.get(name)
    if fn is None:
        raise NameError(f"name {name!r} is not defined by the program")
    return fn


def _describe(ns):
    out = {}
    for name, obj in list(ns.items()):
        if name.startswith("__"):
            continue
        if type(obj).__name__ == "module":
            out[name] = ["module", getattr(obj, "__name__", "")]
        elif getattr(obj, "__module__", None) == "typing":
            out[name] = ["typing", name]
        elif callable(obj):
            out[name] = ["func"]
        else:
            try:
                out[name] = ["value", enc(obj)]
            except CodecError:
                pass
    return out


# ----------------------------------------------------------------------------------------------- runner side
class Abort(BaseException):
    """The worker timed out or died: the current test ends with `verdict`."""

    def __init__(self, verdict, msg):
        super().__init__(msg)
        self.verdict = verdict
        self.msg = msg


class FromProgram(Exception):
    """An exception raised inside the program, re-raised in the test code."""


class Worker:
    """The worker process and its pipes. `fork=True` only before the job is read (see the module docstring)."""

    def __init__(self, fork=False, spare=None):
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.returncode = None
        self.billed = 0.0
        self.ready = False
        self.buf = b""
        if spare is not None:
            try:
                self.pid = spare.fork_worker(req_r, resp_w)
            finally:
                os.close(req_r)
                os.close(resp_w)
            return
        pid = os.fork()
        if pid == 0:  # the child: nothing below returns
            try:
                os.close(self.req_w)
                os.close(self.resp_r)
                null = os.open("/dev/null", os.O_RDONLY)
                os.dup2(null, 0)  # the runner's stdin still holds the job, unread
                os.close(null)
                os.dup2(2, 1)  # the runner's stdout is the result channel
                if fork:
                    _set_dumpable(1)  # like an exec'd worker; the runner stays non-dumpable
                    worker_main(req_r, resp_w)
                else:
                    os.set_inheritable(req_r, True)
                    os.set_inheritable(resp_w, True)
                    # A fresh interpreter: the worker holds none of the runner's memory (the secret, the tests).
                    os.execv(sys.executable, [sys.executable, "-I", "-B", __file__, "worker", str(req_r), str(resp_w)])
            finally:
                os._exit(1)
        self.pid = pid
        os.close(req_r)
        os.close(resp_w)

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self.returncode = 0
        return self.returncode

    def cpu(self):
        try:
            with open(f"/proc/{self.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError, ValueError):
            return 0.0

    def kill(self):
        if self.returncode is None:
            try:
                os.kill(self.pid, 9)
            except OSError:
                pass
        self.wait()
        for fd in (self.req_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass

    def recv(self, budget):
        """The next message, within `budget` CPU seconds of the worker (and a wall bound)."""
        start_cpu = budget.cpu_used
        # From what was last billed (0 for a new worker): CPU the program spent loading before this call counts.
        base = self.billed
        wall_end = time.monotonic() + budget.wall_left()
        while b"\n" not in self.buf:
            ready, _, _ = select.select([self.resp_r], [], [], 0.05)
            used = start_cpu + self.cpu() - base
            budget.cpu_used = used
            if used > budget.cpu_limit or time.monotonic() > wall_end:
                self.kill()
                raise Abort("time_limit", f"over {budget.cpu_limit:g}s")
            if ready:
                chunk = os.read(self.resp_r, 1 << 20)
                if not chunk:
                    code = self.wait()
                    verdict = "memory_limit" if code == -9 else "runtime_error"
                    raise Abort(verdict, f"program process ended (status {code})")
                self.buf += chunk
                if len(self.buf) > MAX_MSG:
                    self.kill()
                    raise Abort("output_limit", "reply too large")
        line, _, self.buf = self.buf.partition(b"\n")
        self.billed = self.cpu()
        budget.cpu_used = start_cpu + self.billed - base
        try:
            msg = loads(line)
        except ValueError:
            raise Abort("runtime_error", "malformed reply from the program process") from None
        if type(msg) is not dict:
            raise Abort("runtime_error", "malformed reply from the program process")
        return msg

    def send(self, obj):
        data = dumps(obj).encode() + b"\n"
        try:
            while data:
                n = os.write(self.req_w, data)
                data = data[n:]
        except OSError:
            raise Abort("runtime_error", "program process is gone") from None


class Spare:
    """A copy of the runner made before the job is read (so it holds nothing secret) that forks fresh workers.

    A worker forked from it costs a fork, where a fresh interpreter costs ~15 ms; the runner is the workers' child
    subreaper, so it still waits for them (their parent, a short-lived middle process, exits at once).
    """

    def __init__(self):
        import _socket

        self.sock, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                self.sock.close()
                # Nothing of the runner's but stderr: not the unread job on stdin, not the result channel, not the
                # first worker's pipes (workers forked from here would inherit them).
                keep = theirs.detach()
                os.dup2(keep, 3)
                null = os.open("/dev/null", os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.closerange(4, 1 << 16)
                _spare_main(_socket.socket(fileno=3))
            finally:
                os._exit(0)
        theirs.close()
        self.pid = pid

    def fork_worker(self, req_r, resp_w):
        import _socket

        fds = req_r.to_bytes(4, sys.byteorder, signed=True) + resp_w.to_bytes(4, sys.byteorder, signed=True)
        try:
            self.sock.sendmsg([b"w"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
            reply = self.sock.recv(8)
        except OSError:
            reply = b""
        if len(reply) != 4:
            raise Abort("runtime_error", "program process did not start")
        return int.from_bytes(reply, sys.byteorder, signed=True)

    def close(self):
        self.sock.close()  # EOF: it exits


def _spare_main(sock):
    import _socket
    import signal

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the middle processes
    while True:
        try:
            msg, anc, _, _ = sock.recvmsg(1, _socket.CMSG_SPACE(8))
        except OSError:
            return
        if not msg:
            return
        data = b"".join(d for level, kind, d in anc if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS)
        fds = [int.from_bytes(data[i : i + 4], sys.byteorder, signed=True) for i in range(0, len(data) - 3, 4)]
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        if os.fork() == 0:  # the middle process: its child is reparented to the runner (the subreaper)
            worker = os.fork()
            if worker == 0:
                try:
                    sock.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    null = os.open("/dev/null", os.O_RDONLY)
                    os.dup2(null, 0)
                    os.close(null)
                    os.dup2(2, 1)
                    _set_dumpable(1)
                    worker_main(fds[0], fds[1])
                finally:
                    os._exit(1)
            try:
                sock.send(worker.to_bytes(4, sys.byteorder, signed=True))
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)


class Budget:
    def __init__(self, cpu_limit):
        self.cpu_limit = cpu_limit
        self.cpu_used = 0.0
        self.start = time.monotonic()

    def wall_left(self):
        return max(0.0, 3 * self.cpu_limit + 2 - (time.monotonic() - self.start))


class Session:
    """A live worker that has loaded the program (restarted after a kill)."""

    def __init__(self, worker=None, spare=None):
        self.worker = worker
        self.spare = spare
        self.load_error = None

    def get(self, budget):
        if self.load_error is not None:
            raise Abort(self.load_error[0], self.load_error[1])
        if self.worker is None or (self.worker.ready and self.worker.poll() is not None):
            self.worker = Worker(spare=self.spare)
        if not self.worker.ready:  # its first message says whether the program loaded
            msg = self.worker.recv(budget)
            if "load_err" in msg:
                verdict = "compile_error" if msg.get("syntax") else _exc_verdict(str(msg["load_err"]))
                self.load_error = (verdict, f"{msg['load_err']}: {msg.get('msg', '')}")
                self.worker.kill()
                self.worker = None
                raise Abort(*self.load_error)
            if not msg.get("ready"):
                raise Abort("runtime_error", "program process did not start")
            self.worker.ready = True
        return self.worker

    def call(self, budget, fn, args, kwargs):
        w = self.get(budget)
        w.send({"op": "call", "fn": fn, "args": args, "kwargs": kwargs})
        try:
            msg = w.recv(budget)
        except Abort:
            w.kill()
            self.worker = None
            raise
        return msg

    def drop(self):
        if self.worker is not None:
            self.worker.kill()
            self.worker = None


def _exc_verdict(name):
    return "memory_limit" if name == "MemoryError" else "runtime_error"


def run_fn_test(session, test, fn_name, budget):
    msg = session.call(budget, fn_name, test["args"], test.get("kwargs", {"D": []}))
    if "ok" in msg:
        try:
            dec(msg["ok"])
        except CodecError as exc:
            return {"v": "wrong_answer", "e": f"result is not plain data: {exc}"}
        return {"v": "done", "r": msg["ok"]}
    name = str(msg.get("err", "Exception"))
    if name == "CodecError":
        return {"v": "wrong_answer", "e": f"result is not plain data: {msg.get('msg')}"}
    return {"v": _exc_verdict(name), "e": f"{name}: {msg.get('msg', '')}"[:500]}


SAFE_MODULE_PREFIXES = ("_", "__main__")


def build_globals(session, budget):
    w = session.get(budget)
    w.send({"op": "names"})
    names = w.recv(budget).get("names", {})
    g = {"__name__": "__aha_test__", "__builtins__": builtins}
    if type(names) is not dict:
        return g
    for name, desc in names.items():
        if type(name) is not str or not name.isidentifier() or type(desc) is not list or not desc:
            continue
        kind = desc[0]
        try:
            if kind == "module" and type(desc[1]) is str and not desc[1].startswith(SAFE_MODULE_PREFIXES):
                __import__(desc[1])
                g[name] = sys.modules[desc[1]]
            elif kind == "typing":
                import typing

                if hasattr(typing, name):
                    g[name] = getattr(typing, name)
            elif kind == "value":
                g[name] = dec(desc[1])
            elif kind == "func":
                g[name] = make_proxy(session, budget, name)
        except (ImportError, CodecError, IndexError, TypeError, ValueError):
            continue
    return g


def make_proxy(session, budget, name):
    def proxy(*args, **kwargs):
        try:
            payload = enc(tuple(args)), enc(dict(kwargs))
        except CodecError as exc:
            raise TypeError(f"argument not supported by the harness: {exc}") from None
        msg = session.call(budget, name, payload[0], payload[1])
        if "ok" in msg:
            try:
                return dec(msg["ok"])
            except CodecError as exc:
                raise FromProgram(f"{name} returned non-plain data: {exc}") from None
        err = str(msg.get("err", "Exception"))
        if err == "MemoryError":
            raise Abort("memory_limit", "MemoryError")
        cls = getattr(builtins, err, None)
        text = f"{err} in {name}: {msg.get('msg', '')}"
        if isinstance(cls, type) and issubclass(cls, Exception) and cls is not AssertionError:
            try:
                exc = cls(text)
            except Exception:
                exc = FromProgram(text)
            exc.__aha_from_program__ = True
            raise exc
        raise FromProgram(text)

    proxy.__name__ = proxy.__qualname__ = name
    return proxy


def run_code_test(session, test, budget):
    g = build_globals(session, budget)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # test code that prints must not write into the result channel
    try:
        exec(compile(test["code"], "<test>", "exec"), g)
    except AssertionError as exc:
        return {"v": "wrong_answer", "e": f"AssertionError: {exc}"[:500]}
    except Abort:
        raise
    except BaseException as exc:  # noqa: B036 - whatever the test code raised fails this test
        return {"v": "runtime_error", "e": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        sys.stdout = real_stdout
    return {"v": "accepted"}


def _prctl(option, value):
    try:
        import ctypes

        ctypes.CDLL(None).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _set_dumpable(flag):
    _prctl(4, flag)  # PR_SET_DUMPABLE


def _mentions_typing():
    # A hint only (a miss costs the worker the import, nothing else); the program's text is not secret.
    try:
        with open(PROGRAM, "rb") as fh:
            return b"typing" in fh.read()
    except OSError:
        return False


def runner_main():
    # Non-dumpable before any worker exists: no ptrace and no /proc/<pid>/fd or /mem for anything else of our uid
    # (a tracer attached earlier would stay attached).
    _set_dumpable(0)
    if _mentions_typing():
        import typing  # noqa: F401 - ~10 ms; loaded once here, before the fork, it is free in the first worker

    first = Worker(fork=True)
    spare = None
    # One byte of the job comes first (never more: the rest holds the secret): whether more workers will be needed.
    if os.read(0, 1) == b"+":
        _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: workers the spare forks are ours to wait for
        spare = Spare()
    job = loads(sys.stdin.buffer.read())
    sys.stdin.close()
    out = os.fdopen(os.dup(1), "w")
    secret = job.pop("secret")
    session = Session(first, spare)
    limit = float(job.get("time_limit_s", 2.0))
    for i, test in enumerate(job["tests"]):
        budget = Budget(limit)
        try:
            if job["mode"] == "fn":
                rec = run_fn_test(session, test, job["fn_name"], budget)
            else:
                rec = run_code_test(session, test, budget)
                session.drop()  # assert-style tests each get a freshly loaded program
        except Abort as exc:
            session.worker = None
            rec = {"v": exc.verdict, "e": exc.msg[:500]}
        rec["i"] = i
        rec["t"] = round(budget.cpu_used, 4)
        out.write(dumps(rec) + "\n")
        out.flush()
        if job.get("stop") and rec["v"] not in ("accepted", "done"):
            break
    session.drop()
    if spare is not None:
        spare.close()
    out.write(dumps({"done": secret}) + "\n")
    out.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker_main(int(sys.argv[2]), int(sys.argv[3]))
    else:
        runner_main()
