"""A real Ray cluster of two nodes on this machine, one per test module (Ray starts slowly), and a Redis for it.

Every Ray process listens on loopback: Ray otherwise resolves "127.0.0.1" to the address of the machine's outward
interface when it connects (``resolve_ip_for_localhost``), and its single-machine mode, which this variable turns
on before Ray is imported, keeps every node and every connection on 127.0.0.1. Both nodes are this machine, so only
the head runs Serve's HTTP proxy (two could not share its port); that proxy is told not to prefer the replica of its
own node, so that HTTP requests reach both nodes' replicas, as a load balancer in front of one proxy per node
spreads them in a real cluster.
"""

from __future__ import annotations

import os

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING"] = "0"  # read by the proxy, a child of the raylets started here

import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from tests.conftest import RedisServer, start_redis  # noqa: E402

# Ray is imported where a cluster starts, so that test_optional.py, which hides Ray, needs none of it.


@dataclass
class TwoNodes:
    """A head node and a worker node, each with one CPU and a resource naming it, and this process connected."""

    cluster: object  # ray.cluster_utils.Cluster
    head: object
    worker: object

    @property
    def address(self) -> str:
        return self.cluster.address  # type: ignore[attr-defined]

    def node_id(self, node: object) -> str:
        return node.node_id  # type: ignore[attr-defined]


def _session_processes(session_dir: str) -> list[str]:
    # Every process Ray starts for a node names the session directory on its command line.
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if session_dir in cmdline:
                found.append(f"{entry.name}: {cmdline[:160]}")
    return found


def start_two_nodes(cpus: int = 1) -> TwoNodes:
    """Start the cluster and connect to it."""
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError:
        pytest.fail("the ray extra is not installed: run ./run test, which installs .[dev,ray]")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": cpus, "resources": {"aha_head": 1}, "include_dashboard": False},
    )
    worker = cluster.add_node(num_cpus=cpus, resources={"aha_worker": 1})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    return TwoNodes(cluster, cluster.head_node, worker)


def stop_two_nodes(nodes: TwoNodes) -> None:
    """Shut the cluster down and check that none of its processes (raylets, GCS, workers) is left."""
    import ray

    cluster = nodes.cluster
    session_dir = cluster.head_node.get_session_dir_path()  # type: ignore[attr-defined]
    try:
        from ray import serve

        serve.shutdown()
    except Exception:  # noqa: BLE001 - a module that never started Serve has nothing to shut down
        pass
    ray.shutdown()
    cluster.shutdown()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while (left := _session_processes(session_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "Ray processes outlived the cluster:\n" + "\n".join(left)


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[TwoNodes]:
    """The module's cluster."""
    nodes = start_two_nodes()
    yield nodes
    stop_two_nodes(nodes)


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for the whole module, started as tests/conftest.py's ``redis_server`` starts its own (that
    fixture is per test, and the replicas of a module-wide deployment need one Redis for their whole life)."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.kill()


# What a verdict measured rather than decided: how long and how much memory a program's run took.
MEASURED = frozenset({"time_s", "wall_s", "memory_mb"})


def decided(value: Any) -> Any:
    """``value`` (a result, or any part of one) without the measured fields, which no two runs share."""
    if isinstance(value, dict):
        return {k: decided(v) for k, v in value.items() if k not in MEASURED}
    if isinstance(value, list):
        return [decided(v) for v in value]
    return value
