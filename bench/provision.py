"""Benchmark: provision N teams of the largest bundled scenario, against a plain Docker SDK loop.

Both sides create the same networks and containers with the same concurrency;
the baseline does no configuration and no readiness wait. Printed: time to
ready, teardown time, memory per range, and the ratios (target ≤ 1.3).
Everything made is labelled and removed, also when interrupted.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.scenario import load_scenario_file  # noqa: E402
from app.services.ranges import compile_model  # noqa: E402
from range import labels  # noqa: E402
from range.docker_backend import DockerBackend  # noqa: E402
from range.engine import DockerRangeEngine  # noqa: E402
from range.images import build_image  # noqa: E402
from range.provision import (  # noqa: E402
    BASE_CAPABILITIES, container_name, ensure_networks, layout, network_name, ready_ports, wait_ready,
)
from range.spec import RangeSpec  # noqa: E402


def largest_scenario():  # type: ignore[no-untyped-def]
    loaded = [load_scenario_file(p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    return max(loaded, key=lambda s: len(s.scenario.network.hosts))


def specs(loaded, prefix: str, teams: int) -> list[RangeSpec]:  # type: ignore[no-untyped-def]
    return [compile_model(loaded.scenario, loaded.bundle(), exercise=prefix, team=str(n),
                          gateway_user=f"team{n:02d}", gateway_password="bench-pass-1")
            for n in range(1, teams + 1)]


def baseline_team(engine: DockerRangeEngine, spec: RangeSpec, await_services: bool = False) -> None:
    """The plain loop: networks, then create and start every container; nothing else.

    With *await_services*, it then waits, as the platform does, until every
    host's services answer (an informative second baseline: what booting the
    same images costs, without any of the platform's configuration).
    """
    backend = engine.backend
    plan = layout(spec, ensure_networks(backend, engine.pool, spec))
    for host in spec.hosts:
        container = backend.create_container(
            name=container_name(spec, host.name), image=host.image, hostname=host.name,
            labels={**labels.for_team(spec.exercise, spec.team), labels.HOST: host.name},
            networks=[(network_name(spec, s), plan.addresses[host.name][s], ()) for s in host.segments],
            extra_hosts={}, cap_add=sorted(set(BASE_CAPABILITIES) | set(host.capabilities)),
            sysctls={"net.ipv4.ip_forward": "1"} if host.forwarding else {},
            memory_bytes=host.limits.memory_bytes, nano_cpus=host.limits.nano_cpus, pids=host.limits.pids,
        )
        backend.start(container)
    gateway = backend.create_container(
        name=container_name(spec, labels.GATEWAY_HOST), image=spec.gateway_image, hostname="gateway",
        labels={**labels.for_team(spec.exercise, spec.team), labels.HOST: labels.GATEWAY_HOST},
        networks=[(network_name(spec, s), plan.addresses[labels.GATEWAY_HOST][s], ())
                  for s in (labels.ACCESS_SEGMENT, *spec.access_segments)],
        extra_hosts={}, cap_add=BASE_CAPABILITIES, sysctls={}, memory_bytes=128 << 20,
        nano_cpus=250_000_000, pids=256, publish={"22/tcp": ("127.0.0.1", None)},
    )
    backend.start(gateway)
    if await_services:
        for host in spec.hosts:
            wait_ready(plan.addresses[host.name][host.segments[0]], ready_ports(host), host.name)


def plain_teardown(backend: DockerBackend, exercise: str, concurrency: int) -> None:
    """Baseline teardown: remove the same containers and networks with the same concurrency."""
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda c: backend.remove_container(c.id), backend.containers(labels.filters(exercise))))
        list(pool.map(lambda n: backend.remove_network(n.id), backend.networks(labels.filters(exercise))))


def mamori_teardown(engine: DockerRangeEngine, exercise: str, teams: int, concurrency: int) -> None:
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda n: engine.teardown(exercise, str(n)), range(1, teams + 1)))


def memory_per_range(backend: DockerBackend, exercise: str, teams: int) -> float:
    """Resident memory of every container (cgroup usage less page cache), per range, in MiB."""
    def used(container_id: str) -> int:
        usage = backend.api.stats(container_id, stream=False).get("memory_stats", {})
        return int(usage.get("usage", 0)) - int(usage.get("stats", {}).get("inactive_file", 0))

    with ThreadPoolExecutor(16) as pool:
        total = sum(pool.map(used, [c.id for c in backend.containers(labels.filters(exercise))]))
    return total / teams / 2**20


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backend = DockerBackend()
    engine = DockerRangeEngine(backend)
    loaded = largest_scenario()
    images = {h.image for h in loaded.scenario.network.hosts} | {"base"}
    for name in sorted(images):
        build_image(backend, name, log=lambda line: None)
    run = uuid.uuid4().hex[:6]
    base_id, booted_id, mamori_id = f"bench{run}b", f"bench{run}w", f"bench{run}m"
    try:
        base_specs = specs(loaded, base_id, args.teams)
        with ThreadPoolExecutor(args.concurrency) as pool:
            base_up = timed(lambda: list(pool.map(lambda s: baseline_team(engine, s), base_specs)))
        base_down = timed(lambda: plain_teardown(backend, base_id, args.concurrency))
        booted_specs = specs(loaded, booted_id, args.teams)
        with ThreadPoolExecutor(args.concurrency) as pool:
            booted_up = timed(lambda: list(pool.map(lambda s: baseline_team(engine, s, True), booted_specs)))
        plain_teardown(backend, booted_id, args.concurrency)

        mamori_specs = specs(loaded, mamori_id, args.teams)
        with ThreadPoolExecutor(args.concurrency) as pool:
            up = timed(lambda: list(pool.map(engine.provision, mamori_specs)))
        ready = sum(engine.status(s).complete for s in mamori_specs)
        memory = memory_per_range(backend, mamori_id, args.teams)
        down = timed(lambda: mamori_teardown(engine, mamori_id, args.teams, args.concurrency))
    finally:
        engine.teardown(base_id)
        engine.teardown(booted_id)
        engine.teardown(mamori_id)
    result = {
        "scenario": loaded.slug, "teams": args.teams, "hosts_per_team": len(loaded.scenario.network.hosts) + 1,
        "concurrency": args.concurrency, "ready_teams": ready,
        "provision_seconds": round(up, 1), "baseline_provision_seconds": round(base_up, 1),
        "provision_ratio": round(up / base_up, 2),
        "booted_baseline_seconds": round(booted_up, 1), "ratio_to_booted_baseline": round(up / booted_up, 2),
        "teardown_seconds": round(down, 1), "baseline_teardown_seconds": round(base_down, 1),
        "teardown_ratio": round(down / base_down, 2),
        "memory_mib_per_range": round(memory, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"provision {args.teams} teams of {loaded.slug} ({result['hosts_per_team']} containers each), "
              f"concurrency {args.concurrency}")
        print(f"  to ready:  {up:7.1f} s   baseline {base_up:7.1f} s   ratio {result['provision_ratio']:.2f} (target ≤ 1.3)")
        print(f"             (the plain loop that also waits for the same services: {booted_up:.1f} s, "
              f"ratio {result['ratio_to_booted_baseline']:.2f})")
        print(f"  teardown:  {down:7.1f} s   baseline {base_down:7.1f} s   ratio {result['teardown_ratio']:.2f} (target ≤ 1.3)")
        print(f"  memory per range: {memory:.1f} MiB;  ready teams: {ready}/{args.teams}")
    return 0 if ready == args.teams else 1


if __name__ == "__main__":
    sys.exit(main())
