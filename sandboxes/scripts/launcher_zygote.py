"""The launcher zygote (standalone script, stdlib only): forks bwrap launchers on request, as the service's uid.

Started once per service process with one end of a SOCK_SEQPACKET socket pair (its fd number in argv[1]). Each
request is a uid (4 bytes, -1: keep ours) with five fds attached: the run's stdin, stdout, stderr, bwrap's status
pipe and a control pipe. The zygote forks a *launcher* for it and answers with the launcher's pid; it reaps them
(SIGCHLD ignored). A launcher moves the fds to 0-4, closes every other fd, and waits, doing nothing, until the job
(JSON: bwrap's argv and the rlimits) arrives on the control pipe; then it drops to the uid, sets the rlimits and
execs bwrap. EOF instead of a job (the service closed it, or died) makes the launcher exit; EOF on the socket makes
the zygote exit.
"""

import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys


def launcher(fds, uid):
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 32) for fd in fds]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(5, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    os.setsid()
    data = b""
    while chunk := os.read(4, 1 << 16):
        data += chunk
    os.close(4)
    if not data:
        return
    job = json.loads(data)
    # Every disposition back to its default: ignored ones (Python's SIGPIPE and SIGXFSZ, and whatever the service's
    # parent ignored, such as nohup's SIGHUP) would stay ignored across exec.
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    if uid >= 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    for res, soft, hard in job["rlimits"]:
        resource.setrlimit(res, (soft, hard))
    os.execve(job["argv"][0], job["argv"], {"PATH": "/usr/bin:/bin"})


def main():
    sock = socket.socket(fileno=int(sys.argv[1]))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 16, 8)
        except OSError:
            break
        if not msg:
            break
        pid = os.fork()
        if pid == 0:
            try:
                launcher(fds, struct.unpack("i", msg[:4])[0])
            except BaseException as exc:
                os.write(2, f"aha launcher: {exc}\n".encode())
            finally:
                os._exit(127)
        for fd in fds:
            os.close(fd)
        sock.send(struct.pack("i", pid))


if __name__ == "__main__":
    main()
