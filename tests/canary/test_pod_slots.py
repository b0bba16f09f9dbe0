"""Where the lab's pods live: a port each, taken out of the ephemeral range, and a slot that
comes free when its process exits. Found as a StopIteration in a CI run of the no-traffic
scenario: a canary slot's port, picked with `bind(0)`, had been taken as the source port of
an outgoing connection while the pre-warmed pod waited, its bind failed, and the
replacement pod found every slot still held by the dead one."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tools.canary_lab.clock import Clock
from tools.canary_lab.manifests import read_rollout
from tools.canary_lab.pods import Build, Cluster, Pod, Slot
from tools.canary_lab.procs import _ephemeral_range, reserved_port

pytestmark = pytest.mark.anyio


def test_reserved_ports_sit_below_the_ephemeral_range_and_are_distinct() -> None:
    low, _ = _ephemeral_range()
    taken: set[int] = set()
    for _ in range(20):
        port = reserved_port(taken)
        assert 1024 <= port < low
        assert port not in taken
        taken.add(port)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))  # free when handed out


def test_an_outgoing_connection_never_takes_a_reserved_port() -> None:
    """The kernel picks source ports inside the range: 200 connections, none below it."""
    low, _ = _ephemeral_range()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(256)
        clients = [socket.create_connection(server.getsockname()) for _ in range(200)]
        try:
            assert all(c.getsockname()[1] >= low for c in clients)
        finally:
            for client in clients:
                client.close()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    slot = Slot("canary", 0, reserved_port(), "penvoice-test-c0")
    built = Cluster(
        clock=Clock(1.0),
        rollout=read_rollout(),
        slots=[slot],
        workdir=tmp_path,
        lifetime=30,
        grace_period=5,
    )
    try:
        yield built
    finally:
        built.kill_all()
        await built.http.aclose()


def canary_build() -> Build:
    return Build(role="canary", template_hash="abcdefghij", revision="2", environ={})


def occupy(cluster: Cluster, argv: list[str]) -> Pod:
    slot = cluster.slots[0]
    pod = Pod(slot=slot, build=canary_build(), log_path=cluster.workdir / f"{slot.pod_name}.log")
    pod.log_path.write_text("the first pod's log\n")
    pod.process = subprocess.Popen(argv)
    cluster.pods.append(pod)
    return pod


@pytest.mark.slow
async def test_a_slot_whose_pod_exited_takes_the_replacement(cluster: Cluster) -> None:
    dead = occupy(cluster, ["true"])
    assert dead.process is not None
    dead.process.wait()

    cluster.prewarm(canary_build())

    [warm] = cluster._warm.values()
    assert warm.slot == dead.slot
    assert warm.process is not None
    assert warm.process.poll() is None
    assert warm.log_path != dead.log_path  # the dead pod's log is kept
    assert dead.log_path.read_text() == "the first pod's log\n"


@pytest.mark.slow
async def test_with_every_slot_held_by_a_live_process_a_new_pod_is_a_clear_error(
    cluster: Cluster,
) -> None:
    live = occupy(cluster, ["sleep", "30"])
    try:
        with pytest.raises(RuntimeError, match="no free canary slot"):
            cluster.start_pod(canary_build())
    finally:
        assert live.process is not None
        live.process.kill()
        live.process.wait()
