"""Where per-run cgroups go: our cgroup seen through mounts that show a subtree (a container's) or the whole tree."""

from __future__ import annotations

from pathlib import Path

from sandboxes import cgroups


def test_own_cgroup_through_a_mount_of_the_whole_hierarchy():
    assert cgroups._under("/sys/fs/cgroup/memory", "/", "/docker/abc") == Path("/sys/fs/cgroup/memory/docker/abc")


def test_own_cgroup_through_a_container_mount_of_a_subtree():
    # Docker mounts a container's own cgroup at the controller's usual place; a delegated parent shows it below.
    assert cgroups._under("/sys/fs/cgroup/memory", "/docker/abc", "/docker/abc") == Path("/sys/fs/cgroup/memory")
    assert cgroups._under("/sys/fs/cgroup/pids", "/aha-api", "/aha-api/abc") == Path("/sys/fs/cgroup/pids/abc")


def test_a_mount_that_does_not_show_our_cgroup_is_not_used():
    assert cgroups._under("/sys/fs/cgroup/memory", "/aha-api", "/docker/abc") is None
    assert cgroups._under("/sys/fs/cgroup/memory", "/aha", "/aha-api/abc") is None  # a prefix, not a parent


def test_mounts_carry_their_root():
    for point, root, fstype, _opts in cgroups._mounts():
        assert fstype in {"cgroup", "cgroup2"} and point.startswith("/") and root.startswith("/")
