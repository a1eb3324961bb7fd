"""Tar in, tar out (pure): the program dir into `/box`, and what a run left there back out, safely."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path, PurePosixPath

from sandboxes.docker.errors import SandboxSetupError


def box_archive(box: Path, uid: int = 0, gid: int = 0) -> bytes:
    """A tar of the program dir for `put_archive` into `/box`: regular files and directories only.

    Owners are `uid:gid` (the engine extracts as root and keeps them: root for a read-only box, the program's user
    for a writable one); modes are normalised to 0755 for directories and executables, 0644 otherwise. Symlinks and
    special files are left out, so nothing on the host outside the box can be reached through the archive.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(box):  # does not follow symlinked dirs
            rel_root = Path(root).relative_to(box)
            for name in sorted(dirs):
                path = Path(root) / name
                if path.is_symlink():
                    dirs.remove(name)
                    continue
                info = tarfile.TarInfo((rel_root / name).as_posix())
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.uid, info.gid = uid, gid
                info.mtime = int(path.lstat().st_mtime)
                tar.addfile(info)
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                except OSError:  # a symlink (ELOOP) or gone: not part of the program
                    continue
                with os.fdopen(fd, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    info = tarfile.TarInfo((rel_root / name).as_posix())
                    info.size = st.st_size
                    info.mode = 0o755 if st.st_mode & 0o111 else 0o644
                    info.uid, info.gid = uid, gid
                    info.mtime = int(st.st_mtime)
                    tar.addfile(info, fh)
    return buf.getvalue()


def member_path(name: str, strip: str = "") -> PurePosixPath | None:
    """A tar member name as a path inside the box, after dropping the leading `strip` component (`get_archive`
    names everything `box/...`); `.` for the box itself; None if it would leave the box or lacks the prefix."""
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if name.startswith("/") or any(p in ("..", "") for p in parts):
        return None
    if strip:
        if not parts or parts[0] != strip:
            return None
        parts = parts[1:]
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def extract_box_archive(data: bytes, box: Path, strip: str = "", max_members: int = 10000) -> int:
    """Write what a run left in `/box` (the tar `get_archive` returns) into the host dir; returns the files written.

    The archive is untrusted: only regular files and directories are taken, paths must stay inside `box`, no
    host symlink is followed, and modes lose setuid/setgid and group/other write.
    """
    written = 0
    root = box.resolve()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for count, member in enumerate(tar):
            if count >= max_members:
                raise SandboxSetupError(f"/box holds more than {max_members} entries")
            rel = member_path(member.name, strip)
            if rel is None or rel == PurePosixPath(".") or not (member.isdir() or member.isreg()):
                continue
            target = root.joinpath(*rel.parts)
            if any(p.is_symlink() for p in [target, *target.parents] if p != root and root in p.parents):
                continue
            if member.isdir():
                if not target.exists():
                    target.mkdir(mode=0o755)
                    os.chmod(target, 0o777)  # like programs.prepared: other sandbox uids may write here
                continue
            if not target.parent.is_dir():
                continue
            src = tar.extractfile(member)
            if src is None:
                continue
            mode = 0o755 if member.mode & 0o111 else 0o644
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(1 << 16):
                    out.write(chunk)
            os.chmod(target, mode)
            written += 1
    return written
