"""A container's files and process table, read from the Docker host without its help (standard library only).

The checks' fast way: a few system calls instead of a Docker API request.
Everything goes through ``/proc/<pid>`` of the container's first process,
opened once and checked to belong to the container (its cgroup names the
container id), so a PID that was reused after a restart, or the PID of an
engine on another machine, is refused (``NotThisContainer``) instead of read.

What a trainee with root in the container controls is its file system and
its processes, so:

- files are opened with ``openat2`` inside the container's root
  (``RESOLVE_IN_ROOT``: ``/``, ``..`` and absolute symlinks stay in it),
  no magic links (``/proc/<n>/root``) and no other mount (``RESOLVE_NO_XDEV``:
  ``/proc``, bind mounts and volumes are left to the Docker API, as before);
- the last component is not followed (a symlink reads as absent, as Docker's
  archive treats it) and only a regular file is ever opened for reading —
  first as an ``O_PATH`` handle whose type is checked, so a FIFO or a device
  node is never opened at all — and at most ``max_bytes`` are read;
- command lines are read to at most 128 KiB, like ``ps``.

``HostReadUnavailable`` means "this way cannot answer" (a kernel without
``openat2``, not root, a path crossing a mount, …): the caller asks the
Docker API instead, which decides exactly as it always did.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
import posixpath
import re
import stat
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from range.hostproc import passwd_names
from range.results import ProcessInfo

MAX_COMMAND_BYTES = 128 * 1024  # what ps reads of /proc/<pid>/cmdline
MAX_PASSWD_BYTES = 256 * 1024
_SMALL_FILE = 64 * 1024  # /proc/<pid>/status, cgroup, stat
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]")  # as ps prints them: ?

_RESOLVE_NO_XDEV, _RESOLVE_NO_MAGICLINKS, _RESOLVE_IN_ROOT = 0x01, 0x02, 0x10
# openat2 has the same number on every architecture but alpha and ia64.
_SYS_OPENAT2 = 437 if platform.machine() in {"x86_64", "aarch64", "arm64", "armv7l", "riscv64", "ppc64le",
                                             "s390x", "i686", "i386"} else None


class HostReadUnavailable(Exception):
    """Reading on the Docker host cannot answer this; ask the Docker API instead."""


class NotThisContainer(HostReadUnavailable):
    """The PID is not (or no longer) the container's: it restarted, or its engine is on another machine."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


@functools.lru_cache(maxsize=1)
def _syscall() -> Any:
    call = ctypes.CDLL(None, use_errno=True).syscall
    call.restype = ctypes.c_long
    return call


def _openat2(directory: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    if _SYS_OPENAT2 is None:
        raise OSError(errno.ENOSYS, "openat2 is not known on this architecture")
    how = _OpenHow(flags, mode, resolve)
    fd = _syscall()(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(directory), ctypes.c_char_p(os.fsencode(path)),
                 ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(fd)


# The container's first process -------------------------------------------------------------

@dataclass(frozen=True)
class ContainerProcess:
    """An open ``/proc/<pid>`` of a process checked to be in the container: it stays that process."""

    pid: int
    fd: int
    cgroup: str  # its /proc/<pid>/cgroup


@contextmanager
def container_process(pid: int, container_id: str) -> Iterator[ContainerProcess]:
    """``/proc/<pid>``, open, once its cgroup shows it is *container_id*'s; else ``NotThisContainer``.

    The open directory refers to this very process: if it exits and the PID
    is reused, reads through it fail instead of reaching the newcomer.
    """
    if pid <= 0 or not container_id:
        raise NotThisContainer(f"no process {pid} for container {container_id[:12]}")
    try:
        fd = os.open(f"/proc/{pid}", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        raise NotThisContainer(f"process {pid} is gone") from None
    try:
        try:
            cgroup = _read_at(fd, "cgroup", _SMALL_FILE).decode("utf-8", errors="replace")
        except OSError:
            raise NotThisContainer(f"process {pid} is gone") from None
        if container_id not in cgroup:
            raise NotThisContainer(f"process {pid} is not in container {container_id[:12]}")
        yield ContainerProcess(pid, fd, cgroup)
    finally:
        os.close(fd)


def _open_root(process: ContainerProcess) -> int:
    """An ``O_PATH`` handle of the container's root directory, seen through its process."""
    try:
        return os.open("root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=process.fd)
    except OSError:
        raise NotThisContainer(f"process {process.pid} is gone") from None


def _read_at(directory: int, name: str, limit: int) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=directory)
    try:
        return _read_capped(fd, limit)
    finally:
        os.close(fd)


def _read_capped(fd: int, limit: int) -> bytes:
    data = bytearray()
    while len(data) < limit:
        chunk = os.read(fd, min(65536, limit - len(data)))
        if not chunk:
            break
        data += chunk
    return bytes(data)


# Files ---------------------------------------------------------------------------------------

def read_file(pid: int, container_id: str, path: str, max_bytes: int, *, follow: bool = False) -> bytes | None:
    """At most *max_bytes* of the regular file *path* in the container; ``None`` when it is absent.

    Absent, as through Docker's archive: no such file, a directory, a symlink,
    a FIFO, a socket or a device. With *follow*, symbolic links are followed
    as the container's own programs would follow them — inside its root only
    (an absolute or ``..`` link never leaves it), no magic links, no other
    mount — and a link is absent only when what it leads to is.
    """
    with container_process(pid, container_id) as process:
        return read_in_root(process, path, max_bytes, follow=follow)


def read_in_root(process: ContainerProcess, path: str, max_bytes: int, *, follow: bool = False) -> bytes | None:
    """``read_file`` through an open ``container_process``."""
    if "\0" in path:
        raise HostReadUnavailable("a path with a NUL in it")  # the system call would read a shorter one
    root = _open_root(process)
    try:
        handle = _resolve(root, _lexical(path), follow=follow)
        if handle is None:
            return None
        try:
            found = os.fstat(handle)
            if stat.S_ISLNK(found.st_mode):
                # Absent, as Docker's archive has it; Docker evaluates the link, so a loop stays its error.
                target = _resolve(root, _lexical(path), follow=True)
                if target is not None:
                    os.close(target)
                return None
            if not stat.S_ISREG(found.st_mode):
                return None  # never opened for reading: a FIFO would block, a device would act
            return _read_inode(handle, found, max_bytes)
        finally:
            os.close(handle)
    except OSError as exc:
        raise HostReadUnavailable(f"{path}: {exc.strerror}") from None
    finally:
        os.close(root)


class TooManyEntries(Exception):
    """A directory tree has more entries than the caller would look at."""


def list_tree(pid: int, container_id: str, path: str, max_entries: int) -> list[tuple[str, str, int]] | None:
    """Every entry below the directory *path*: ``(relative path, kind, size)``, kind one of
    ``file``, ``dir``, ``link``, ``other``; ``None`` when *path* is no directory (or a link).

    Links are listed, never followed; each sub-directory is opened by its name
    in its parent with ``O_NOFOLLOW`` (one swapped for a link meanwhile is
    skipped); another mount inside the tree is left to the Docker API.
    ``TooManyEntries`` past *max_entries*.
    """
    if "\0" in path:
        raise HostReadUnavailable("a path with a NUL in it")
    with container_process(pid, container_id) as process:
        root = _open_root(process)
        try:
            top = _openat2(root, _lexical(path), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                           _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_XDEV)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None
            raise HostReadUnavailable(f"{path}: {exc.strerror}") from None
        finally:
            os.close(root)
        return _walk(top, max_entries)


def _walk(top: int, max_entries: int) -> list[tuple[str, str, int]]:
    """The entries below the open directory *top* (closed when done), breadth first."""
    device = os.fstat(top).st_dev
    found: list[tuple[str, str, int]] = []
    pending = [(top, "")]
    try:
        while pending:
            directory, prefix = pending[0]
            with os.scandir(directory) as listing:
                for entry in listing:
                    if len(found) >= max_entries:
                        raise TooManyEntries(f"more than {max_entries} entries")
                    child = _entry(entry, directory, prefix + entry.name, device, found)
                    if child is not None:
                        pending.append((child, prefix + entry.name + "/"))
            os.close(pending.pop(0)[0])
    finally:
        for directory, _ in pending:
            os.close(directory)
    return found


def _entry(entry: os.DirEntry[str], directory: int, name: str, device: int,
           found: list[tuple[str, str, int]]) -> int | None:
    """Add *entry* to *found*; for a directory, return it opened (``None`` when it vanished or became a link)."""
    try:
        info = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None  # removed since it was listed
    kind = ("dir" if stat.S_ISDIR(info.st_mode) else "file" if stat.S_ISREG(info.st_mode)
            else "link" if stat.S_ISLNK(info.st_mode) else "other")
    found.append((name, kind, info.st_size if kind == "file" else 0))
    if kind != "dir":
        return None
    if info.st_dev != device:
        raise HostReadUnavailable(f"{name} is another mount")
    try:
        return os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    except OSError:
        return None  # gone, or swapped for a link since it was listed


def create_empty(pid: int, container_id: str, path: str) -> None:
    """Create the empty regular file *path* (mode 0644) in the container, unless it exists.

    For the platform's own marks, in directories it placed itself; resolved
    inside the container's root like the reads (a link never leads out).
    """
    with container_process(pid, container_id) as process:
        root = _open_root(process)
        try:
            fd = _openat2(root, _lexical(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_XDEV, 0o644)
            os.close(fd)
        except FileExistsError:
            handle = _resolve(root, _lexical(path), follow=False)  # there: fine if a plain file, never a link
            if handle is None:
                raise HostReadUnavailable(f"{path}: vanished while it was made") from None
            try:
                if not stat.S_ISREG(os.fstat(handle).st_mode):
                    raise HostReadUnavailable(f"{path}: exists and is not a regular file") from None
            finally:
                os.close(handle)
        except OSError as exc:
            raise HostReadUnavailable(f"{path}: {exc.strerror}") from None
        finally:
            os.close(root)


def _read_inode(handle: int, found: os.stat_result, max_bytes: int) -> bytes:
    """Open for reading the very inode *handle* holds (not the path, which may have changed since)."""
    fd = os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (found.st_dev, found.st_ino) or not stat.S_ISREG(opened.st_mode):
            raise OSError(errno.ESTALE, "the file changed while it was opened")
        return _read_capped(fd, max_bytes)
    finally:
        os.close(fd)


def _lexical(path: str) -> str:
    """``..`` taken away by name first, as Docker does, keeping a trailing ``/`` or ``/.`` (they mean "a directory")."""
    clean = posixpath.normpath("/" + path.lstrip("/"))
    suffix = next((s for s in ("/.", "/") if path.endswith(s)), "")
    return clean if clean == "/" else clean + suffix


def _resolve(root: int, path: str, *, follow: bool) -> int | None:
    """An ``O_PATH`` handle of *path* in the container's root (nothing is opened for I/O); ``None`` when absent."""
    flags = os.O_PATH | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        return _openat2(root, path, flags, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_XDEV)
    except OSError as exc:
        if exc.errno == errno.ENOENT or (follow and exc.errno == errno.ELOOP):
            return None  # followed: a loop or a magic link leads nowhere a program of the host could open
        # ENOSYS (kernel < 5.6), EXDEV (another mount), ELOOP (a symlink loop), ENOTDIR (a file as a
        # directory, Docker's error), …: the Docker API decides, as it always did.
        raise HostReadUnavailable(f"{path}: {exc.strerror}") from None


# Processes -----------------------------------------------------------------------------------

def processes(pid: int, container_id: str) -> list[ProcessInfo]:
    """The container's processes as ``docker top`` lists them, from its cgroup and ``/proc``.

    User names come from the container's ``/etc/passwd`` (read as ``read_file``
    does); command lines are shown as ``ps -o args`` shows them.
    """
    with container_process(pid, container_id) as first:
        members = _cgroup_members(first.cgroup)
        if pid not in members:
            raise HostReadUnavailable("the container's cgroup is not where this host's /proc says")
        names = passwd_names(read_in_root(first, "/etc/passwd", MAX_PASSWD_BYTES) or b"")
    rows = []
    for member in sorted(members):
        row = _process(member, container_id, names)
        if row is not None:
            rows.append(row)
    return rows


def _process(pid: int, container_id: str, names: dict[int, str]) -> ProcessInfo | None:
    try:
        with container_process(pid, container_id) as process:
            status = _fields(_read_at(process.fd, "status", _SMALL_FILE))
            if status.get("State", "").startswith(("Z", "X")):
                return None  # exited, waiting for its parent: no longer in the cgroup's list
            command = _read_at(process.fd, "cmdline", MAX_COMMAND_BYTES)
            name = _stat_name(_read_at(process.fd, "stat", _SMALL_FILE)) if not command else ""
    except (NotThisContainer, OSError):
        return None  # ended since the cgroup was read
    uids = status.get("Uid", "").split()
    uid = int(uids[1]) if len(uids) > 1 else 0  # the effective uid, as ps's uid column
    return ProcessInfo(pid, int(status.get("PPid", "0")), uid, names.get(uid, str(uid)), ps_command(command, name))


def _fields(status: bytes) -> dict[str, str]:
    out = {}
    for line in status.decode("utf-8", errors="replace").splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _stat_name(stat_line: bytes) -> str:
    text = stat_line.decode("utf-8", errors="surrogateescape")
    return text[text.find("(") + 1: text.rfind(")")]


def ps_command(cmdline: bytes, name: str = "") -> str:
    """A command line as ``docker top`` shows it: ``ps -o args`` on the Docker host, split on spaces by Docker.

    Arguments joined by spaces (NULs and newlines become spaces), characters
    ``ps`` cannot print as ``?``, runs of spaces as one; an empty command
    line (a process exiting) as ``[name]``.
    """
    if not cmdline:
        return f"[{_printable(name)}]"
    text = cmdline.rstrip(b"\0")
    if not text:
        return "?"
    shown = _printable(text.replace(b"\0", b" ").replace(b"\n", b" ").decode("utf-8", errors="surrogateescape"))
    return " ".join(part for part in shown.split(" ") if part)


def _printable(text: str) -> str:
    """Control characters (C0, DEL, C1), separators of lines and paragraphs, unassigned code points and
    undecodable bytes as ``?``."""
    text = _UNPRINTABLE.sub("?", text)
    if text.isascii():
        return text
    unassigned = {ord(c): "?" for c in set(text) if unicodedata.category(c) == "Cn"}
    return text.translate(unassigned) if unassigned else text


# cgroups ---------------------------------------------------------------------------------------

def _cgroup_members(cgroup: str) -> set[int]:
    """Every process in the cgroup a ``/proc/<pid>/cgroup`` names, its sub-groups included (as runc's)."""
    directory = _cgroup_directory(cgroup)
    members: set[int] = set()
    try:
        for here, _, _ in os.walk(directory):
            with open(os.path.join(here, "cgroup.procs"), "rb") as handle:
                members.update(int(word) for word in handle.read(1 << 20).split())
    except (OSError, ValueError) as exc:
        raise HostReadUnavailable(f"the container's cgroup cannot be read ({exc})") from None
    return members


def _cgroup_directory(cgroup: str) -> str:
    """Where on this host the pids hierarchy (cgroup v1) or the unified one (v2) has the process's group."""
    v1, v2 = {}, None
    for line in cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        for controller in parts[1].split(","):
            v1[controller] = parts[2]
    mounts = _cgroup_mounts()
    if "pids" in v1 and "pids" in mounts:
        root, point, path = *mounts["pids"], v1["pids"]
    elif v2 is not None and "" in mounts:
        root, point, path = *mounts[""], v2
    else:
        raise HostReadUnavailable("no cgroup hierarchy of the container is mounted on this host")
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    directory = os.path.normpath(point + "/" + path.lstrip("/"))
    if not os.path.isdir(directory):
        _cgroup_mounts.cache_clear()
        raise HostReadUnavailable(f"the container's cgroup {path} is not under {point}")
    return directory


@functools.lru_cache(maxsize=1)
def _cgroup_mounts() -> dict[str, tuple[str, str]]:
    """The (root, mount point) of the v1 pids hierarchy under the key ``pids``, of cgroup v2 under ``""``."""
    found: dict[str, tuple[str, str]] = {}
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            fields = line.split()
            if "-" not in fields:
                continue
            dash = fields.index("-")
            kind, options = fields[dash + 1], fields[dash + 3].split(",") if len(fields) > dash + 3 else []
            where = (_unescape(fields[3]), _unescape(fields[4]))
            if kind == "cgroup" and "pids" in options:
                found.setdefault("pids", where)
            elif kind == "cgroup2":
                found.setdefault("", where)
    return found


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
