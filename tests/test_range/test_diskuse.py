"""The walk that measures a writable layer, on trees a root trainee could make (no Docker needed)."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from range.diskuse import filesystem_space, measure_tree

MB = 1024 * 1024


def written(path: Path, size: int) -> Path:
    path.write_bytes(b"x" * size)
    return path


def test_counts_allocated_blocks_once_per_inode_without_following_links(tmp_path: Path) -> None:
    layer, outside = tmp_path / "layer", tmp_path / "outside"
    layer.mkdir()
    outside.mkdir()
    written(layer / "data", 3 * MB)
    os.link(layer / "data", layer / "same-data")  # a hard link costs nothing more
    written(outside / "huge", 8 * MB)
    (layer / "to-huge").symlink_to(outside / "huge")  # neither the file nor the directory it names is counted
    (layer / "to-outside").symlink_to(outside, target_is_directory=True)
    with open(layer / "sparse", "wb") as sparse:  # 1 GiB long, no block allocated
        sparse.truncate(1024 * MB)
    usage = measure_tree(str(layer), time.monotonic() + 10)
    assert usage.complete
    assert 3 * MB <= usage.bytes < 3 * MB + 256 * 1024
    assert usage.entries == 5


def test_a_tree_nested_deeper_than_a_path_can_name_is_reported_not_skipped(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    try:
        descriptor = os.open(layer, os.O_RDONLY)
        try:
            for _ in range(2100):  # > PATH_MAX (4096) in total, each level short
                os.mkdir("dd", dir_fd=descriptor)
                inner = os.open("dd", os.O_RDONLY, dir_fd=descriptor)
                os.close(descriptor)
                descriptor = inner
            with open(os.open("hidden", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=descriptor), "wb") as hidden:
                hidden.write(b"x" * MB)
        finally:
            os.close(descriptor)
        usage = measure_tree(str(layer), time.monotonic() + 10)
        assert not usage.complete and "too deep" in usage.reason
    finally:
        peel(layer)  # pytest's own clean-up would hit the recursion limit on it


def peel(top: Path) -> None:
    """Remove a tree too deep for shutil.rmtree's recursion, one level at a time."""
    while (top / "dd").exists():
        os.rename(top / "dd", top.parent / "peeled")
        shutil.rmtree(top)
        os.rename(top.parent / "peeled", top)
    shutil.rmtree(top)


def test_the_walk_stops_at_its_entry_limit_and_its_deadline(tmp_path: Path) -> None:
    for index in range(50):
        (tmp_path / f"f{index}").touch()
    crowded = measure_tree(str(tmp_path), time.monotonic() + 10, max_entries=20)
    assert not crowded.complete and crowded.entries == 21 and "more than 20 files" in crowded.reason
    late = measure_tree(str(tmp_path), time.monotonic() - 1)
    assert not late.complete and "in time" in late.reason


def test_a_missing_layer_is_not_measured_as_empty(tmp_path: Path) -> None:
    usage = measure_tree(str(tmp_path / "gone"), time.monotonic() + 1)
    assert not usage.complete and usage.bytes == 0


def test_free_space_of_a_file_system(tmp_path: Path) -> None:
    space = filesystem_space(str(tmp_path))
    assert 0 < space.free_bytes <= space.total_bytes and space.free_inodes <= space.total_inodes
