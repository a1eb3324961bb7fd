"""In-sandbox test runner (the harness) for Python function-call and assert-style tests (a standalone script;
stdlib only, with `codec.py` beside it).

Two processes, so the program never shares memory with the judge:
- the *runner* (this script, `runner` mode) makes itself non-dumpable (so nothing of the same uid can ptrace it
  or open its /proc fds), forks the first *worker*, and only then reads the job from stdin: a per-run secret, the
  tests (argument lists, or assert-style test code), the reference's setup code, the limits;
- the *worker* runs the setup and then the program in one namespace, and answers requests over a pipe with values
  in the codec's encoding. Its stdin is /dev/null and its stdout goes to stderr. The first one is forked before
  the job exists in any memory (so it costs no interpreter start-up and still holds nothing secret); for the next
  assert-style tests, workers are forked from a *spare* copy of the runner made before the job was read (the job's
  first byte says whether one is needed); any other later one (after a kill) is a fresh interpreter via exec,
  since by then the runner's memory holds the job.

The runner runs test code itself, in a namespace that is the test's: the reference's setup, then the test code,
with the builtins always the runner's own. Program names reach it only as proxies, and only for names the test
code uses and neither a builtin nor the setup defines (and the reference's `fn_name`): a function becomes a
function proxy, a class a proxy whose instances stay in the worker (`Solution().twoSum`), plain data a decoded
copy. Values cross as data both ways and are rebuilt here from our own types (`ListNode`s as the test's own class
when it has one); arguments the program changed are changed here too. The runner never imports, evaluates or
reads anything the program names or writes: it works in a read-only directory, ignores SIGINT, and an exception
the program raises comes back as a fresh builtin exception of that name (StopIteration, which would steer the
test's iteration, as a plain `ProgramError`). It writes one JSON record per test to stdout and, last, the secret:
a run without it proves nothing and earns nothing.
"""

import _json
import _signal
import builtins
import dis as _dis
import os
import select
import sys
import time

if "Encoder" not in globals():  # run beside codec.py; in the sandbox codec.py's source comes first (inbox/__init__)
    from codec import CodecError, Decoder, Encoder, record_class

PROGRAM = "/box/main.py"
SETUP = "/box/__aha_setup.py"
MAX_MSG = 64 << 20
TICK = os.sysconf("SC_CLK_TCK")
TEST_MODULE = "__aha_test__"
# The runner's working directory and home once it holds the job: read-only for every process of the run, so
# nothing the program writes lies where the runner (or a library the test code imports) looks for files.
RUNNER_DIR = "/"
WORKER_DIR = os.getcwd()  # the run's work dir (/tmp): workers keep it, and the environment the run gave
WORKER_ENV = dict(os.environ)


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
def _text(exc):
    try:
        return str(exc)[:500]
    except Exception:  # a program's exception whose __str__ raises
        return ""


class _Handles:
    """Program objects that stay in the worker (instances the test made by calling a program class)."""

    def __init__(self):
        self.objects = []
        self.ids = {}

    def of(self, obj):
        return self.ids.get(id(obj))

    def add(self, obj):
        h = self.ids.get(id(obj))
        if h is None:
            h = self.ids[id(obj)] = len(self.objects)
            self.objects.append(obj)  # kept alive: its id stays its own
        return h

    def get(self, h):
        if 0 <= h < len(self.objects):
            return self.objects[h]
        raise CodecError(f"no program object #{h}")


def _new_object(ns, name):
    """An empty object of the program's class `name` for a decoded entry (a Record when it has none)."""
    cls = ns.get(name)
    if isinstance(cls, type):
        try:
            return object.__new__(cls)
        except TypeError:  # a builtin's subclass
            pass
    return record_class(name)()


def worker_main(req_fd, resp_fd):
    """Run the setup and load the program, then answer requests until the request pipe closes."""
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)  # the runner ignores it; the program is a program
    rf = os.fdopen(req_fd, "rb")
    wf = os.fdopen(resp_fd, "wb", buffering=0)

    def send(obj):
        try:
            data = dumps(obj).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            data = dumps({"err": "TypeError", "msg": f"unserializable: {_text(exc)}"}).encode()
        wf.write(data + b"\n")

    ns = {"__name__": "solution", "__builtins__": builtins}
    setup_ns = {}
    for path in (SETUP, PROGRAM):
        try:
            with open(path, encoding="utf-8") as fh:
                code = compile(fh.read(), path, "exec")
        except FileNotFoundError:
            if path == SETUP:
                continue
            raise
        except SyntaxError as exc:
            send({"load_err": "SyntaxError", "msg": f"line {exc.lineno}: {exc.msg}", "syntax": path == PROGRAM})
            return
        try:
            exec(code, ns)
        except BaseException as exc:  # noqa: B036 - sys.exit() while loading is a failure, not an exit
            send({"load_err": type(exc).__name__, "msg": _text(exc)})
            return
        if path == SETUP:
            setup_ns = dict(ns)
    send({"ready": True})
    # What the program defined (or redefined) over the setup: the only names it offers the test. The runner picks
    # from them, so nothing of the test code (not even the names it uses) comes here.
    own = [k for k, v in ns.items() if k[:2] != "__" and setup_ns.get(k, ns) is not v]
    handles = _Handles()
    new_object = lambda name: _new_object(ns, name)  # noqa: E731 - made once, used by every call
    for line in rf:
        try:
            send(_serve(loads(line), ns, handles, own, new_object))
        except BaseException as exc:  # noqa: B036 - a SystemExit inside the function fails that call
            send({"err": type(exc).__name__, "msg": _text(exc)})


_SCALARS = (str, int, float, bool, type(None))


def _serve(req, ns, handles, own, new_object):
    op = req["op"]
    if op == "names":
        return {"names": _describe(ns, own)}
    if op == "get":
        return _reply(ns[req["fn"]], handles, as_handles=True)
    if op == "attr":
        value = getattr(handles.get(req["h"]), req["fn"])
        if callable(value) and not isinstance(value, type):
            return {"fn": True}
        return _reply(value, handles, as_handles=True)
    decoder = Decoder(req.get("o", []), new_object, handles.get)
    args = decoder.value(req.get("args", {"T": []}))
    kwargs = decoder.value(req.get("kwargs", {"D": []}))
    sent = decoder.finish()
    if type(args) is not tuple or type(kwargs) is not dict:
        raise CodecError("malformed call")
    name = req["fn"]
    if op == "call":
        target = _resolve(ns, name) if req.get("how") == "fn" else _global(ns, name)
    elif op == "new":
        target = _global(ns, name)
    elif op == "mcall":
        target = getattr(handles.get(req["h"]), name)
    elif op == "setattr":
        obj = handles.get(req["h"])

        def target(value):
            setattr(obj, name, value)

    else:
        raise ValueError(f"unknown request {op!r}")
    result = target(*args, **kwargs)
    if op == "new":
        return {"ok": {"H": handles.add(result)}}
    # The objects the request sent come first in the reply's table: the runner updates its own with their state.
    encoder = Encoder(handles.of, seed=sent)
    out = {"ok": encoder.value(result)}
    if sent or not all(type(a) in _SCALARS for a in args) or not all(type(a) in _SCALARS for a in kwargs.values()):
        for key, before, now in (("a", req.get("args"), args), ("k", req.get("kwargs"), kwargs)):
            after = encoder.value(now)
            if after != before:  # a mutated argument
                out[key] = after
    table = encoder.table()
    if table:
        out["o"] = table
    return out


def _reply(value, handles, as_handles=False):
    encoder = Encoder(handles.of)
    try:
        data = encoder.value(value)
        table = encoder.table()
    except CodecError:
        if not as_handles:
            raise
        return {"ok": {"H": handles.add(value)}}
    if as_handles and table:  # an attribute that is a program object: it stays here, as the object it is
        return {"ok": {"H": handles.add(value)}} if data == {"R": 0} else {"ok": data, "o": table}
    return {"ok": data, "o": table} if table else {"ok": data}


def _global(ns, name):
    if name not in ns:
        raise NameError(f"name {name!r} is not defined by the program")
    return ns[name]


def _resolve(ns, name):
    sol = ns.get("Solution")
    if isinstance(sol, type) and hasattr(sol, name):
        return getattr(sol(), name)  # LeetCode style: a fresh instance per call
    return _global(ns, name)


def _describe(ns, names):
    """What each of `names` is in the program: a class, a function, or a value (sent only when asked for)."""
    out = {}
    for name in names:
        obj = ns.get(name)
        if isinstance(obj, type):
            out[name] = "class"
        elif callable(obj):
            out[name] = "func"
        elif type(obj).__name__ == "module":
            out[name] = f"module:{getattr(obj, '__name__', '')}"  # never imported as such (see STD_MODULES)
        else:
            out[name] = "value"
    return out


# ----------------------------------------------------------------------------------------------- runner side
class Abort(BaseException):
    """The worker timed out or died: the current test ends with `verdict`."""

    def __init__(self, verdict, msg):
        super().__init__(msg)
        self.verdict = verdict
        self.msg = msg


class ProgramError(Exception):
    """An exception the program raised that is not re-raised as its own type (or whose type we do not have)."""


class Worker:
    """The worker process and its pipes. `fork=True` only before the job is read (see the module docstring)."""

    def __init__(self, fork=False, spare=None):
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.returncode = None
        self.billed = 0.0
        self.ready = False
        self.buf = bytearray()
        self.scanned = 0  # how much of buf is known to hold no newline
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
                    os.chdir(WORKER_DIR)
                    # A fresh interpreter: the worker holds none of the runner's memory (the secret, the tests).
                    argv = [sys.executable, "-I", "-B", __file__, "worker", str(req_r), str(resp_w)]
                    os.execve(sys.executable, argv, WORKER_ENV)
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
            # utime, stime and the children's it waited for: work forked out and reaped is the worker's too
            return sum(int(f) for f in fields[11:15]) / TICK
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
        while True:
            end = self.buf.find(b"\n", self.scanned)
            if end >= 0:
                break
            self.scanned = len(self.buf)
            ready, _, _ = select.select([self.resp_r], [], [], 0.05)
            # CPU is read (from /proc) while waiting and once a message is in, not on every chunk: a call's cost
            if not ready or time.monotonic() > wall_end:
                budget.cpu_used = start_cpu + self.cpu() - base
                if budget.cpu_used > budget.cpu_limit or time.monotonic() > wall_end:
                    self.kill()
                    raise Abort("time_limit", f"over {budget.cpu_limit:g}s")
                continue
            chunk = os.read(self.resp_r, 1 << 20)
            if not chunk:
                code = self.wait()
                verdict = "memory_limit" if code == -9 else "runtime_error"
                raise Abort(verdict, f"program process ended (status {code})")
            self.buf += chunk
            if len(self.buf) > MAX_MSG:
                self.kill()
                raise Abort("output_limit", "reply too large")
        line = bytes(self.buf[:end])
        del self.buf[: end + 1]
        self.scanned = 0
        self.billed = self.cpu()
        budget.cpu_used = start_cpu + self.billed - base
        if budget.cpu_used > budget.cpu_limit:  # it answered, but over its time
            self.kill()
            raise Abort("time_limit", f"over {budget.cpu_limit:g}s")
        try:
            msg = loads(line)
        except (ValueError, RecursionError, MemoryError):  # a reply nested too deeply for the parser, too
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
            try:
                worker = os.fork()
            except OSError:  # no process left (the pid limit): say so at once, never become a second spare
                try:
                    sock.send(b"!")
                finally:
                    os._exit(0)
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
    def __init__(self, cpu_limit, wall_limit):
        self.cpu_limit = cpu_limit
        self.wall_limit = wall_limit  # the judge's per-test wall time (`judge.test_wall_s`)
        self.cpu_used = 0.0
        self.start = time.monotonic()

    def wall_left(self):
        return max(0.0, self.wall_limit - (time.monotonic() - self.start))


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

    def call(self, budget, req):
        """Send one request to the (loaded) worker and return its reply."""
        w = self.get(budget)
        w.send(req)
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


# Exceptions the test code must not get back as themselves: they steer iteration (a StopIteration raised by the
# candidate inside `all(map(candidate, xs))` would just end the loop, and every assert would pass).
_NOT_RERAISED = ("StopIteration", "StopAsyncIteration", "GeneratorExit", "AssertionError")


def _program_exception(err, text):
    """The exception to raise in the test code for one the program raised (by name: never its object)."""
    cls = getattr(builtins, err, None) if type(err) is str and err not in _NOT_RERAISED else None
    if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, StopIteration | StopAsyncIteration):
        try:
            return cls(text)
        except Exception:  # a constructor that wants more arguments (UnicodeDecodeError, ExceptionGroup)
            pass
    return ProgramError(text)


def _write_back(orig, new):
    """Make a container the test passed look the way the program left it (an in-place sort, a filled matrix)."""
    if orig is new:
        return
    if type(orig) is list and type(new) is list or type(orig) is bytearray and type(new) is bytearray:
        orig[:] = new
    elif isinstance(orig, dict) and isinstance(new, dict) or isinstance(orig, set) and isinstance(new, set):
        orig.clear()
        orig.update(new)
    else:
        coll = sys.modules.get("collections")  # no deque can exist before it is imported
        if coll is not None and isinstance(orig, coll.deque) and isinstance(new, coll.deque):
            orig.clear()
            orig.extend(new)


def _remote_handle(v):
    return object.__getattribute__(v, "_aha_h") if type(v) is Remote else None


class Remote:
    """A program object that stays in the worker (a `Solution()`): attributes and calls are requests to it."""

    __slots__ = ("_aha_ctx", "_aha_h")

    def __init__(self, ctx, h):
        object.__setattr__(self, "_aha_ctx", ctx)
        object.__setattr__(self, "_aha_h", h)

    def __getattr__(self, name):
        if name.startswith("__"):  # copy, pickle, repr machinery: never a request
            raise AttributeError(name)
        ctx, h = object.__getattribute__(self, "_aha_ctx"), object.__getattribute__(self, "_aha_h")
        msg = ctx.request({"op": "attr", "h": h, "fn": name})
        if msg.get("fn") is True:
            return _proxy(ctx, {"op": "mcall", "h": h, "fn": name}, name)
        return ctx.result(msg, name)

    def __setattr__(self, name, value):
        ctx, h = object.__getattribute__(self, "_aha_ctx"), object.__getattribute__(self, "_aha_h")
        ctx.call({"op": "setattr", "h": h, "fn": name}, (value,), {}, name)

    def __repr__(self):
        return f"<program object #{object.__getattribute__(self, '_aha_h')}>"


def _proxy(ctx, req, name):
    """A function of the test code's that calls the program: `req` says what to call."""

    def proxy(*args, **kwargs):
        return ctx.call(dict(req), args, kwargs, name)

    proxy.__name__ = proxy.__qualname__ = name
    return proxy


class Ctx:
    """One assert-style test: its worker session, CPU budget and namespace, and whether the worker was lost.

    Once a request was aborted (time limit, the worker died) every later one is too, so test code that swallows
    the exception (`except BaseException`) cannot go on and pass.
    """

    def __init__(self, session, budget):
        self.session = session
        self.budget = budget
        self.aborted = None
        self.g = {}

    def request(self, req):
        if self.aborted is not None:
            raise Abort(*self.aborted)
        try:
            return self.session.call(self.budget, req)
        except Abort as exc:
            self.aborted = (exc.verdict, exc.msg)
            raise

    def new_object(self, name):
        """An empty object for a decoded entry: of the test's own class of that name if it has a plain one."""
        cls = self.g.get(name)
        if (
            type(cls) is type
            and cls.__new__ is object.__new__
            and cls.__dictoffset__
            and all(k is object or k.__module__ == TEST_MODULE for k in cls.__mro__)
        ):
            return object.__new__(cls)
        return record_class(name)()

    def remote(self, h):
        return Remote(self, h)

    def raise_error(self, msg, name):
        err = str(msg.get("err", "Exception"))
        if err == "MemoryError":
            self.aborted = ("memory_limit", "MemoryError")
            raise Abort(*self.aborted)
        raise _program_exception(err, f"{err} in {name}: {msg.get('msg', '')}")

    def result(self, msg, name):
        """The value a reply carries (the program's exception, raised, when it carries one)."""
        return self.decode(msg, name, ())[0]

    def decode(self, msg, name, seed):
        """(value, [changed args, changed kwargs]) of a reply; `seed` are the objects its request sent."""
        if "ok" not in msg:
            self.raise_error(msg, name)
        try:
            decoder = Decoder(msg.get("o", []), self.new_object, self.remote, seed)
            value = decoder.value(msg["ok"])
            changed = [decoder.value(msg[k]) if k in msg else None for k in ("a", "k")]
            decoder.finish()
        except (CodecError, RecursionError, MemoryError) as exc:
            raise ProgramError(f"{name} returned what is not plain data: {exc}") from None
        return value, changed

    def call(self, req, args, kwargs, name):
        """Call into the program with the test's arguments; what it changed in them is changed here too."""
        encoder = Encoder(_remote_handle)
        try:
            req["args"] = encoder.value(tuple(args))
            req["kwargs"] = encoder.value(dict(kwargs))
            table = encoder.table()
        except CodecError as exc:
            raise TypeError(f"argument not supported by the harness: {exc}") from None
        if table:
            req["o"] = table
        value, (new_args, new_kwargs) = self.decode(self.request(req), name, encoder.objects)
        if type(new_args) is tuple and len(new_args) == len(args):
            for orig, new in zip(args, new_args, strict=True):
                _write_back(orig, new)
        if type(new_kwargs) is dict:
            for key, orig in kwargs.items():
                if key in new_kwargs:
                    _write_back(orig, new_kwargs[key])
        return value


def _code_names(code, loads, stores):
    """The global names `code` and the functions in it read (`loads`) and bind (`stores`): what may have to come
    from the program is read and never bound by the test itself. Attribute names (`math.fabs`, `s.join`) are
    neither: they are looked up on objects, never in the test's namespace."""
    for ins in _dis.get_instructions(code):
        if ins.opname in _LOAD_OPS:
            loads.add(ins.argval)
        elif ins.opname in _STORE_OPS:
            stores.add(ins.argval)
    for const in code.co_consts:
        if type(const) is type(code):
            _code_names(const, loads, stores)
    return loads, stores


_LOAD_OPS = frozenset(("LOAD_NAME", "LOAD_GLOBAL", "DELETE_NAME", "DELETE_GLOBAL"))
_STORE_OPS = frozenset(("STORE_NAME", "STORE_GLOBAL"))


# Modules some datasets' asserts use without importing them, relying on the program's import (MBPP's
# `math.isclose`): when the program has imported one under that name, the test gets the runner's own import of the
# module this table names, never the program's module object, and never a module the program names. A program
# cannot bind these names to anything else for the test, as with builtins.
STD_MODULES = {
    name: name
    for name in ("math", "cmath", "re", "string", "collections", "itertools", "functools", "heapq", "bisect")
    + ("random", "statistics", "operator", "fractions", "decimal", "copy", "json", "datetime", "typing", "sys")
    + ("numpy",)
}
STD_MODULES["np"] = "numpy"


# The classes LeetCode-style tests build from the program beside its entry point (`Solution().twoSum`).
_ENTRY_CLASSES = frozenset(("Solution",))


class IncompleteReference(Exception):
    """The test code uses program names beside the declared entry point that the setup does not define."""


def build_globals(ctx, code, setup, fn_name):
    """Bind the program names the test code uses and nothing defines (`ctx.g` holds the setup's names already).

    Builtins, the setup's names, `STD_MODULES` and what the test code itself defines are never the program's;
    `fn_name`, when the reference declares it, always is (over a stub the setup defines).
    """
    g = ctx.g
    used, defined = _code_names(code, set(), set())
    if setup is not None:  # a setup function may use a name only the program defines (as in the datasets)
        _code_names(setup, used, defined)
    wanted = [
        n
        for n in sorted(used - defined)
        if n not in g and n != fn_name and n[:2] != "__" and not hasattr(builtins, n)
    ]
    # Always asked, so the program is loaded (and must load) even when the test names nothing of it. The program
    # says what it offers; which of it the test uses never leaves this process.
    names = ctx.request({"op": "names"}).get("names")
    if type(names) is not dict:
        names = {}
    if fn_name:
        # A declared entry point (and `Solution`) is the program's only face to the tests: a helper they call
        # (HumanEval's `poly`, `encode_cyclic`), whatever kind of name the program makes it, must come from the
        # setup, or the program could redefine the test's own checker. A test that needs one the setup lacks
        # cannot judge the program.
        helpers = [n for n in wanted if n not in STD_MODULES and n not in _ENTRY_CLASSES and n in names]
        if helpers:
            raise IncompleteReference(helpers)
    for name in wanted:
        kind = names.get(name)
        if name in STD_MODULES:
            if kind == f"module:{STD_MODULES[name]}":
                g[name] = __import__(STD_MODULES[name])
        elif kind == "func":
            g[name] = _proxy(ctx, {"op": "call", "fn": name}, name)
        elif kind == "class":
            g[name] = _proxy(ctx, {"op": "new", "fn": name}, name)
        elif kind == "value":
            try:
                g[name] = ctx.result(ctx.request({"op": "get", "fn": name}), name)
            except Exception:  # the value cannot be had (an Abort, which ends the test, is no Exception)
                continue
    if fn_name:
        g[fn_name] = _proxy(ctx, {"op": "call", "fn": fn_name, "how": "fn"}, fn_name)
    return g


def run_fn_test(session, test, fn_name, budget):
    req = {"op": "call", "fn": fn_name, "how": "fn", "args": test["args"], "kwargs": test.get("kwargs", {"D": []})}
    msg = session.call(budget, req)
    if "ok" in msg:
        try:
            decoder = Decoder(msg.get("o", []))
            decoder.value(msg["ok"])
            decoder.finish()
        except (CodecError, RecursionError, MemoryError) as exc:
            return {"v": "wrong_answer", "e": f"result is not plain data: {exc}"}
        return {"v": "done", "r": msg["ok"], "o": msg.get("o", [])}
    name = str(msg.get("err", "Exception"))
    if name == "CodecError":
        return {"v": "wrong_answer", "e": f"result is not plain data: {msg.get('msg')}"}
    return {"v": _exc_verdict(name), "e": f"{name}: {msg.get('msg', '')}"[:500]}


def run_code_test(session, test, budget, setup, fn_name):
    ctx = Ctx(session, budget)
    ctx.g = {"__name__": TEST_MODULE, "__builtins__": builtins}
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # test code that prints must not write into the result channel
    try:
        if setup is not None:
            try:
                exec(setup, ctx.g)
            except BaseException as exc:  # noqa: B036 - the reference's code, not the program's
                return _setup_failed(exc)
        try:
            code = compile(test["code"], "<test>", "exec")
            g = build_globals(ctx, code, setup, fn_name)
            exec(code, g)
        except IncompleteReference as exc:
            names = ", ".join(exc.args[0])
            why = f"the tests use {names} beside fn_name {fn_name}: the reference must give it in setup"
            verdict = {"v": "reference_incomplete", "e": why}
        except AssertionError as exc:
            verdict = {"v": "wrong_answer", "e": f"AssertionError: {_text(exc)}"[:500]}
        except BaseException as exc:  # noqa: B036 - whatever the test code raised fails this test
            verdict = {"v": "runtime_error", "e": f"{type(exc).__name__}: {_text(exc)}"[:500]}
        else:
            verdict = {"v": "accepted"}
    finally:
        sys.stdout = real_stdout
    if ctx.aborted is not None:  # whatever the test code made of it
        return {"v": ctx.aborted[0], "e": ctx.aborted[1][:500]}
    return verdict


def _setup_failed(exc):
    if isinstance(exc, MemoryError):
        return {"v": "memory_limit", "e": "MemoryError in the setup"}
    return {"v": "setup_error", "e": f"{type(exc).__name__}: {_text(exc)}"[:500]}


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
    # A program may signal us (same uid): SIGINT would be a KeyboardInterrupt anywhere in the test code, which
    # test code that catches everything would swallow. Every other signal kills us: no secret, no credit.
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
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
    os.chdir(RUNNER_DIR)
    os.environ["HOME"] = RUNNER_DIR
    out = os.fdopen(os.dup(1), "w")
    secret = job.pop("secret")
    session = Session(first, spare)
    limit = float(job.get("time_limit_s", 2.0))
    wall = float(job["test_wall_s"])
    setup = compile(job["setup"], "<setup>", "exec") if job.get("setup") else None
    setup_error = None
    if setup is not None and job["mode"] == "fn":  # assert-style tests run it each; here it is checked once
        try:
            exec(setup, {"__name__": TEST_MODULE, "__builtins__": builtins})
        except BaseException as exc:  # noqa: B036 - the reference's code
            setup_error = _setup_failed(exc)
    for i, test in enumerate(job["tests"]):
        budget = Budget(limit, wall)
        try:
            if setup_error is not None:
                rec = dict(setup_error)
            elif job["mode"] == "fn":
                rec = run_fn_test(session, test, job["fn_name"], budget)
            else:
                rec = run_code_test(session, test, budget, setup, job.get("fn_name"))
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
