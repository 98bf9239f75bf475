"""Bare range containers for tests that need a real container and its labels, not a provisioned range.

Each is created by ``DockerBackend.create_container`` — the call provisioning
makes, with the same limits — from the base image, on a network of its own,
labelled like a team's host so label-driven code (and the clean-up) finds it.
"""
from __future__ import annotations

import uuid
from ipaddress import IPv4Network

from range import labels
from range.addressing import SubnetPool, host_address
from range.docker_backend import DockerBackend
from range.images import image_tag

_pool = SubnetPool("10.250.128.0/17")


def plain_host(backend: DockerBackend, exercise: str, team: str, host: str) -> str:
    """A started container labelled as *host* of *team* in *exercise*; returns its id."""
    tags = labels.for_team(exercise, team)
    suffix = uuid.uuid4().hex[:8]
    subnet = _pool.allocate(1, (IPv4Network(s) for s in backend.used_subnets()))[0]
    network = f"{exercise}-{team}-{host}-{suffix}"
    backend.create_network(network, str(subnet), f"mpt{suffix}", {**tags, labels.SEGMENT: "plain"})
    container = backend.create_container(
        name=network, image=image_tag("base"), hostname=host, labels={**tags, labels.HOST: host, labels.ROLE: "host"},
        networks=[(network, str(host_address(subnet, 0)), (host,))], extra_hosts={}, cap_add=[], sysctls={},
        memory_bytes=128 * 1024 * 1024, nano_cpus=250_000_000, pids=64,
    )
    backend.start(container)
    return container
