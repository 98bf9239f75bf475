"""The range engine: provision, inspect, reconcile, reset, pause and tear down team ranges.

This is the interface the control plane uses (``RangeBackend`` below); a
multi-host implementation (Docker Swarm) would provide the same methods.
Everything it makes is labelled, and every query works from labels, so a
restarted control plane finds what exists instead of duplicating it.
"""
from __future__ import annotations

import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Protocol, Sequence

from range import hostfw, labels
from range.addressing import DEFAULT_POOL, SubnetPool
from range.docker_backend import DockerBackend, DockerFailure
from range.errors import RangeError
from range.provision import (
    Layout,
    Progress,
    ProvisionError,
    await_provisioned,
    create_gateway,
    create_host,
    ensure_networks,
    gateway_host,
    layout,
    ready_ports,
    release_provisioning,
    set_routes,
    wait_ready,
)
from range.results import ContainerInfo, ExecResult, ProcessInfo
from range.spec import HostSpec, RangeSpec
from range.status import HostState, TeamRangeState

# Tries at a gateway port when other builders on the same Docker Engine take the ones chosen.
PORT_ATTEMPTS = 5

# Hosts of one team brought up at once: enough to overlap waiting, few enough not to
# crowd the Docker Engine when several teams are built together.
HOST_CONCURRENCY = 4


class HostNotFound(RangeError):
    """The host has no container (not provisioned, or removed)."""


class RangeBackend(Protocol):
    """What the control plane needs from a range backend."""

    def provision(self, spec: RangeSpec, progress: Progress | None = None) -> TeamRangeState: ...
    def status(self, spec: RangeSpec) -> TeamRangeState: ...
    def reconcile(self, spec: RangeSpec) -> TeamRangeState: ...
    def reset_host(self, spec: RangeSpec, host: str) -> TeamRangeState: ...
    def pause(self, exercise: str, team: str | None = None) -> int: ...
    def resume(self, spec: RangeSpec) -> TeamRangeState: ...
    def teardown(self, exercise: str, team: str | None = None) -> int: ...
    def exec(self, exercise: str, team: str, host: str, argv: Sequence[str], *, user: str = "root",
             timeout: float = 30, max_output: int = 65536) -> ExecResult: ...


class DockerRangeEngine:
    """Ranges on one Docker Engine."""

    def __init__(self, backend: DockerBackend, *, pool: str = DEFAULT_POOL, bind_address: str = "127.0.0.1",
                 gateway_ports: tuple[int, int] = (42000, 42999)) -> None:
        self.backend = backend
        self.pool = SubnetPool(pool)
        self.bind_address = bind_address
        self.gateway_ports = gateway_ports
        self._port_lock = threading.Lock()
        self._reserved_ports: set[int] = set()

    def _gateway_port(self, refused: frozenset[int] = frozenset()) -> int:
        """The lowest port of the range no gateway uses, not *refused*, and free on the bind address."""
        with self._port_lock:
            gateways = self.backend.containers([*labels.filters(), f"{labels.ROLE}=gateway"])
            taken = {port for c in gateways for port in c.published.values()} | self._reserved_ports | refused
            for port in range(self.gateway_ports[0], self.gateway_ports[1] + 1):
                if port not in taken and _bindable(self.bind_address, port):
                    self._reserved_ports.add(port)
                    return port
        raise RangeError(
            f"no free gateway port left in {self.gateway_ports[0]}–{self.gateway_ports[1]} on {self.bind_address}"
        )

    def _new_gateway(self, spec: RangeSpec, plan: Layout) -> str:
        """Create and start the team's gateway on a port nothing else holds.

        The port is bound only when the container starts, and a free port can be
        taken meanwhile: by another control plane on the same Docker Engine (a web
        job and the command line, two hosts' builders) choosing it at the same moment,
        or by any program of the host (the range lies within Linux's ephemeral ports,
        so even an outgoing connection may hold one). So after creating, look again —
        of two gateways asking for one port, the one created later gives way — and
        start at once: a port found taken then is left for another.
        """
        refused: set[int] = set()
        for _ in range(PORT_ATTEMPTS):
            port = self._gateway_port(frozenset(refused))
            try:
                gateway_id = create_gateway(self.backend, spec, plan, self.bind_address, port)
            finally:
                with self._port_lock:  # from now on the container's binding holds it
                    self._reserved_ports.discard(port)
            if not self._gives_way(gateway_id, port):
                try:
                    self.backend.start(gateway_id)
                    return gateway_id
                except DockerFailure as exc:
                    if not _port_in_use(exc):
                        raise
            refused.add(port)
            self.backend.remove_container(gateway_id)
            time.sleep(random.uniform(0.05, 0.3))
        raise RangeError(f"no gateway port could be held in {self.gateway_ports[0]}–{self.gateway_ports[1]}: "
                         f"others took every one tried ({', '.join(map(str, sorted(refused)))})")

    def _gives_way(self, gateway_id: str, port: int) -> bool:
        """Whether an older gateway (or, created at the same instant, a lower id) asks for *port* too."""
        gateways = {c.id: c for c in self.backend.containers([*labels.filters(), f"{labels.ROLE}=gateway"])}
        mine = gateways.get(gateway_id)
        if mine is None:
            return False
        return any((c.created, c.id) < (mine.created, mine.id)
                   for c in gateways.values() if c.id != gateway_id and port in c.published.values())

    # Building -----------------------------------------------------------------

    def provision(self, spec: RangeSpec, progress: Progress | None = None) -> TeamRangeState:
        """Create whatever of the team's range is missing, configure it, wait until it answers.

        Containers are created one by one (cheap), then every host is started,
        configured and awaited in parallel.
        """
        say = progress or (lambda message: None)
        hostfw.ensure_rules()
        say("networks")
        plan = layout(spec, ensure_networks(self.backend, self.pool, spec))
        existing = self._containers(spec.exercise, spec.team)
        ids: dict[str, str] = {}
        for host in spec.hosts:
            found = existing.get(host.name)
            if found is not None and found.status == "created":
                # Never started: a control plane killed between create and placing the files
                # left it without them. Cheap to make again.
                self.backend.remove_container(found.id)
                existing.pop(host.name)
                found = None
            if found is None:
                say(f"create {host.name}")
            ids[host.name] = found.id if found else create_host(self.backend, spec, plan, host)
        found_gateway = existing.get(labels.GATEWAY_HOST)
        gateway_id = found_gateway.id if found_gateway is not None else self._new_gateway(spec, plan)
        jobs = [(host, ids[host.name], host.name not in existing) for host in spec.hosts]
        jobs.append((gateway_host(spec), gateway_id, found_gateway is None))
        with ThreadPoolExecutor(max_workers=min(len(jobs), HOST_CONCURRENCY), thread_name_prefix=f"team-{spec.team}") as pool:
            futures = [pool.submit(self._bring_up, spec, plan, host, cid, say, fresh) for host, cid, fresh in jobs]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        return self.status(spec)

    def _bring_up(self, spec: RangeSpec, plan: Layout, host: HostSpec, container_id: str, say: Progress,
                  fresh: bool = False) -> None:
        """Start (a *fresh*ly created container needs no look first), route, configure, await."""
        info = None if fresh else self.backend.container(container_id)
        if info is not None and info.status == "paused":
            self.backend.unpause(container_id)
        elif info is None or info.status != "running":
            self.backend.start(container_id)
        if host.name == labels.GATEWAY_HOST:
            pid = self._no_route_out(container_id)
        else:
            pid = set_routes(self.backend, spec, plan, host, container_id)
        say(f"configure {host.name}")
        # The host's init runs the provisioning script once the routes are set (no exec needed);
        # a container from an earlier attempt whose script failed runs it again.
        release_provisioning(self.backend, container_id, pid)
        await_provisioned(self.backend, container_id, pid, host, retry=not fresh)
        say(f"wait {host.name}")
        wait_ready(plan.addresses[host.name][host.segments[0]], ready_ports(host), host.name)

    def _no_route_out(self, container_id: str) -> int:
        info = self.backend.container(container_id)
        if info is None or info.pid <= 0:
            raise ProvisionError("gateway: the container is not running")
        hostfw.remove_default_route(info.pid)
        return info.pid

    # Reading ------------------------------------------------------------------

    def _containers(self, exercise: str, team: str) -> dict[str, ContainerInfo]:
        """The team's containers from one listing (ids, states, addresses; no PIDs)."""
        return {
            c.labels.get(labels.HOST, ""): c
            for c in self.backend.containers(labels.filters(exercise, team), inspect=False)
        }

    def status(self, spec: RangeSpec) -> TeamRangeState:
        found = self._containers(spec.exercise, spec.team)
        networks = {
            n.name: n.labels.get(labels.SEGMENT, "")
            for n in self.backend.networks(labels.filters(spec.exercise, spec.team))
        }
        hosts = []
        for name in [h.name for h in spec.hosts] + [labels.GATEWAY_HOST]:
            container = found.get(name)
            if container is None:
                hosts.append(HostState(name, None, "missing"))
                continue
            addresses = {networks.get(net, net): ip for net, ip in container.addresses.items()}
            hosts.append(HostState(name, container.id, container.status, addresses))
        gateway = found.get(labels.GATEWAY_HOST)
        port = gateway.published.get("22/tcp") if gateway else None
        return TeamRangeState(spec.exercise, spec.team, tuple(hosts), port, len(networks))

    def with_pid(self, host: HostState) -> HostState:
        """*host* as its container is now, with its PID (one inspect; ``status`` lists, it does not inspect)."""
        if host.container_id is None:
            return host
        info = self.backend.container(host.container_id)
        if info is None:
            return replace(host, container_id=None, state="missing", pid=0)
        return replace(host, state=info.status, pid=info.pid)

    def reconcile(self, spec: RangeSpec) -> TeamRangeState:
        """After a crash or an engine restart: start what stopped, restore routes; report the rest.

        Missing hosts are reported as missing, not silently recreated: the
        control plane decides (``provision`` again, or ``reset_host``).
        """
        hostfw.ensure_rules()
        found = self._containers(spec.exercise, spec.team)
        subnets = ensure_networks(self.backend, self.pool, spec) if found else {}
        plan = layout(spec, subnets) if subnets else None
        for host in spec.hosts:
            container = found.get(host.name)
            if container is None or plan is None:
                continue
            try:
                if container.status in ("exited", "created"):
                    self.backend.start(container.id)
                if container.status != "paused":
                    set_routes(self.backend, spec, plan, host, container.id)
            except RangeError:
                continue  # a host that cannot run shows as such in the status below
        gateway = found.get(labels.GATEWAY_HOST)
        if gateway is not None and plan is not None:
            if gateway.status in ("exited", "created"):
                self.backend.start(gateway.id)
            if gateway.status != "paused":
                self._no_route_out(gateway.id)
        return self.status(spec)

    # Changing -----------------------------------------------------------------

    def reset_host(self, spec: RangeSpec, host: str) -> TeamRangeState:
        """Recreate one host from its image and the scenario, touching nothing else."""
        target = spec.host(host)
        plan = layout(spec, ensure_networks(self.backend, self.pool, spec))
        current = self._containers(spec.exercise, spec.team).get(host)
        if current is not None:
            self.backend.remove_container(current.id)
        container_id = create_host(self.backend, spec, plan, target)
        self._bring_up(spec, plan, target, container_id, lambda message: None, fresh=True)
        return self.status(spec)

    def pause(self, exercise: str, team: str | None = None) -> int:
        """Freeze every container (processes and files kept, e.g. overnight)."""
        count = 0
        for container in self.backend.containers(labels.filters(exercise, team), inspect=False):
            if container.status == "running":
                self.backend.pause(container.id)
                count += 1
        return count

    def resume(self, spec: RangeSpec) -> TeamRangeState:
        for container in self._containers(spec.exercise, spec.team).values():
            if container.status == "paused":
                self.backend.unpause(container.id)
        return self.reconcile(spec)

    def teardown(self, exercise: str, team: str | None = None) -> int:
        """Remove every labelled container and network (idempotent); returns how many."""
        removed = 0
        for container in self.backend.containers(labels.filters(exercise, team), inspect=False):
            self.backend.remove_container(container.id)
            removed += 1
        for network in self.backend.networks(labels.filters(exercise, team)):
            self.backend.remove_network(network.id)
            removed += 1
        return removed

    # Inside hosts ---------------------------------------------------------------

    def container_id(self, exercise: str, team: str, host: str) -> str:
        found = self.backend.containers(labels.filters(exercise, team, host), inspect=False)
        if not found:
            raise HostNotFound(f"team {team} has no host {host!r} (exercise {exercise})")
        return found[0].id

    def exec(self, exercise: str, team: str, host: str, argv: Sequence[str], *, user: str = "root",
             timeout: float = 30, max_output: int = 65536) -> ExecResult:
        return self.backend.exec(self.container_id(exercise, team, host), argv, user=user,
                                 timeout=timeout, max_output=max_output)

    def start_detached(self, exercise: str, team: str, host: str, argv: Sequence[str], *, user: str = "root") -> None:
        self.backend.start_detached(self.container_id(exercise, team, host), argv, user=user)

    def put_file(self, exercise: str, team: str, host: str, path: str, content: bytes, mode: int = 0o644) -> None:
        self.backend.put_file(self.container_id(exercise, team, host), path, content, mode)

    def get_file(self, exercise: str, team: str, host: str, path: str, max_bytes: int = 1024 * 1024, *,
                 follow: bool = False) -> bytes | None:
        return self.backend.get_file(self.container_id(exercise, team, host), path, max_bytes, follow=follow)

    def list_tree(self, exercise: str, team: str, host: str, path: str,
                  max_entries: int) -> list[tuple[str, str, int]] | None:
        return self.backend.list_tree(self.container_id(exercise, team, host), path, max_entries)

    def processes(self, exercise: str, team: str, host: str) -> list[ProcessInfo]:
        return self.backend.processes(self.container_id(exercise, team, host))


def _port_in_use(exc: Exception) -> bool:
    """Whether Docker could not start a container because its published port was taken meanwhile."""
    text = str(exc).lower()
    return "address already in use" in text or "port is already allocated" in text


def _bindable(address: str, port: int) -> bool:
    probe = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind((address, port))
        return True
    except OSError:
        return False
    finally:
        probe.close()
