"""How much disk the range containers use, measured from the Docker host (standard library and the backend).

A trainee is root in a host and owns its writable layer: they choose how many
files it holds, how deep, with which links. So the walk here

- never follows a symbolic link and never leaves the layer's file system;
- counts the blocks really allocated (a sparse file of 100 GB holding
  nothing costs nothing; a copied-up file costs all of it), each inode once
  (hard links);
- runs in a loop with its own stack (no recursion limit to hit) and stops at
  a deadline, saying so — what it could not see is reported as not measured,
  never as empty.

Where the layer is not on this machine (a remote engine, a storage driver
other than overlay2), the engine's own count (``docker ps --size``) is used.
"""
from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from range.docker_backend import DockerBackend

_BLOCK = 512  # st_blocks counts 512-byte units whatever the file system's block size


@dataclass(frozen=True)
class TreeUsage:
    """What a walk of one directory found: bytes allocated, entries seen, and whether it saw everything."""

    bytes: int
    entries: int
    complete: bool = True
    reason: str = ""  # why it is not complete


@dataclass(frozen=True)
class LayerUsage:
    """One container's writable layer."""

    container_id: str
    bytes: int
    entries: int  # files and directories seen; 0 when the engine counted (no walk)
    complete: bool = True
    reason: str = ""
    method: str = "walk"  # "walk" (on this machine) or "engine" (docker ps --size)


@dataclass(frozen=True)
class FilesystemSpace:
    path: str
    free_bytes: int  # available to an unprivileged writer, as df shows it
    total_bytes: int
    free_inodes: int
    total_inodes: int


def measure_tree(root: str, deadline: float, max_entries: int = 1_000_000) -> TreeUsage:
    """The blocks allocated under *root* (itself excluded), walked without following links.

    The walk stops at *deadline* or after *max_entries* files and
    directories (a layer of millions of empty files exhausts the host's
    inodes and the walk's time alike), returning what it counted so far.
    """
    try:
        device = os.lstat(root).st_dev
    except OSError as exc:
        return TreeUsage(0, 0, False, f"cannot read {root}: {exc.strerror}")
    total, entries, seen = 0, 0, set()
    stack = [root]
    while stack:
        if time.monotonic() > deadline:
            return TreeUsage(total, entries, False, f"not finished in time ({entries} entries seen)")
        directory = stack.pop()
        try:
            with os.scandir(directory) as listing:
                for entry in listing:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed while we walk
                    entries += 1
                    if entries > max_entries:
                        return TreeUsage(total, entries, False, f"more than {max_entries} files")
                    if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                        if (info.st_dev, info.st_ino) in seen:
                            continue
                        seen.add((info.st_dev, info.st_ino))
                    total += info.st_blocks * _BLOCK
                    if stat.S_ISDIR(info.st_mode) and info.st_dev == device:
                        stack.append(entry.path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            # ENAMETOOLONG: a tree nested deeper than PATH_MAX; EACCES, EMFILE: whatever, it is not seen.
            what = "nested too deep" if exc.errno == errno.ENAMETOOLONG else exc.strerror
            return TreeUsage(total, entries, False, f"part of the layer cannot be read ({what})")
    return TreeUsage(total, entries)


def measure_layers(backend: "DockerBackend", container_ids: Sequence[str], label_filters: Sequence[str], *,
                   seconds_each: float = 2.0, max_entries: int = 1_000_000,
                   upper_dirs: dict[str, str | None] | None = None) -> list[LayerUsage]:
    """Each container's writable layer, walked on this machine where it can be, else as the engine counts it.

    Each walk has *seconds_each* of its own, so one layer made slow to walk
    never leaves the others unmeasured. *upper_dirs* caches the layer
    directories between calls (a container's never changes). A container
    that disappeared meanwhile is left out.
    """
    cache = upper_dirs if upper_dirs is not None else {}
    found, remote = [], []
    for container_id in container_ids:
        if container_id not in cache:
            upper = backend.writable_layer(container_id)
            cache[container_id] = upper if upper and os.path.isdir(upper) else None
        upper = cache[container_id]
        if upper is None:
            remote.append(container_id)
            continue
        usage = measure_tree(upper, time.monotonic() + seconds_each, max_entries)
        if usage.entries == 0 and not usage.complete and not os.path.isdir(upper):
            cache.pop(container_id, None)  # removed since it was listed
            continue
        found.append(LayerUsage(container_id, usage.bytes, usage.entries, usage.complete, usage.reason))
    if remote:
        sizes = backend.layer_sizes(label_filters)
        for container_id in remote:
            if container_id in sizes:
                found.append(LayerUsage(container_id, sizes[container_id], 0, method="engine"))
    return found


def filesystem_space(path: str) -> FilesystemSpace:
    """Free space and inodes of the file system holding *path* (``df`` and ``df -i``)."""
    info = os.statvfs(path)
    return FilesystemSpace(path, info.f_bavail * info.f_frsize, info.f_blocks * info.f_frsize,
                           info.f_favail, info.f_files)
