"""Benchmark: what one pass of the engine's disk watchdog costs for N teams × M containers.

Makes N × M bare range containers (the base image, one network per team, as
``DockerBackend.create_container`` makes them), puts a few hundred small
files and a few MB in each layer (what provisioning and a working team
leave), then times the two ways to measure every writable layer:

- the walk from the Docker host (``range.diskuse.measure_layers``), first
  pass (one inspect per container to find its layer) and later passes (the
  layer directories cached, as the watchdog keeps them);
- the engine's own count (``docker ps --size``, the remote-engine fallback).

Everything made is labelled and removed, also when interrupted.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Network
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from range import labels  # noqa: E402
from range.addressing import SubnetPool, host_address  # noqa: E402
from range.diskuse import measure_layers  # noqa: E402
from range.docker_backend import DockerBackend  # noqa: E402
from range.engine import DockerRangeEngine  # noqa: E402
from range.images import image_tag  # noqa: E402

FILL = "mkdir -p /var/tmp/work && cd /var/tmp/work && for i in $(seq 1 300); do echo $i > f$i; done " \
       "&& dd if=/dev/zero of=blob bs=1M count=4 2>/dev/null && echo ok"


def make_team(backend: DockerBackend, pool: SubnetPool, exercise: str, team: int, hosts: int) -> list[str]:
    tags = labels.for_team(exercise, str(team))
    subnet = pool.allocate(1, (IPv4Network(s) for s in backend.used_subnets()))[0]
    network = f"{exercise}-{team}"
    backend.create_network(network, str(subnet), f"mbd{uuid.uuid4().hex[:8]}", {**tags, labels.SEGMENT: "office"})
    made = []
    for index in range(hosts):
        host = f"h{index:02d}"
        container = backend.create_container(
            name=f"{network}-{host}", image=image_tag("base"), hostname=host,
            labels={**tags, labels.HOST: host, labels.ROLE: "host"},
            networks=[(network, str(host_address(subnet, index)), (host,))], extra_hosts={}, cap_add=[], sysctls={},
            memory_bytes=64 * 1024 * 1024, nano_cpus=100_000_000, pids=64)
        backend.start(container)
        assert backend.exec(container, ["sh", "-c", FILL], timeout=60).text.strip() == "ok"
        made.append(container)
    return made


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=8, help="containers per team")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    backend = DockerBackend()
    exercise = f"benchdisk{uuid.uuid4().hex[:6]}"
    pool = SubnetPool("10.250.0.0/16")
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as workers:
            ids = [c for team in workers.map(lambda n: make_team(backend, pool, exercise, n, args.hosts),
                                             range(1, args.teams + 1)) for c in team]
        setup = time.perf_counter() - started
        filters = labels.filters(exercise)
        listing = lambda: [c.id for c in backend.containers(filters, inspect=False) if c.status == "running"]  # noqa: E731
        cache: dict[str, str | None] = {}
        first = timed(lambda: measure_layers(backend, listing(), filters, upper_dirs=cache), 1)[0]
        found = measure_layers(backend, listing(), filters, upper_dirs=cache)
        walk = timed(lambda: measure_layers(backend, listing(), filters, upper_dirs=cache), args.repeat)
        engine = timed(lambda: backend.layer_sizes(filters), args.repeat)
        print(json.dumps({
            "containers": len(ids), "setup_seconds": round(setup, 1),
            "entries_per_layer": round(statistics.mean(u.entries for u in found)),
            "mb_per_layer": round(statistics.mean(u.bytes for u in found) / 2 ** 20, 1),
            "walk_first_pass_seconds": round(first, 3),
            "walk_pass_seconds_median": round(statistics.median(walk), 3),
            "walk_pass_seconds_max": round(max(walk), 3),
            "engine_count_seconds_median": round(statistics.median(engine), 3),
            "engine_count_seconds_max": round(max(engine), 3),
        }, indent=2))
    finally:
        DockerRangeEngine(backend).teardown(exercise)


if __name__ == "__main__":
    main()
