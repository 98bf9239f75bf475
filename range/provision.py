"""Building one team's range: networks, hardened containers, accounts, files, routes, readiness."""
from __future__ import annotations

import hashlib
import shlex
import socket
import time
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Callable

from range import hostfw, labels
from range.addressing import SubnetPool, host_address
from range.docker_backend import DockerBackend, DockerFailure
from range.errors import RangeError
from range.spec import HostSpec, RangeSpec

GATEWAY_INDEX = 200  # the access gateway's address is .210 on each segment it joins
BASE_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "NET_BIND_SERVICE", "SYS_CHROOT", "AUDIT_WRITE",
)
PROVISIONED_MARK = "/etc/mamori/provisioned"
Progress = Callable[[str], None]


class ProvisionError(RangeError):
    """A step of building a range failed; the message names the host and the step."""


@dataclass(frozen=True)
class Layout:
    """Where everything goes: a subnet per segment, an address per host per segment."""

    subnets: dict[str, IPv4Network]
    addresses: dict[str, dict[str, str]]  # host -> segment -> address

    def first_address(self, host: HostSpec) -> str:
        return self.addresses[host.name][host.segments[0]]


def network_name(spec: RangeSpec, segment: str) -> str:
    return f"mmr-{spec.exercise}-{spec.team}-{segment}"


def container_name(spec: RangeSpec, host: str) -> str:
    return f"mmr-{spec.exercise}-{spec.team}-{host}"


def bridge_name(network: str) -> str:
    return hostfw.BRIDGE_PREFIX + hashlib.sha1(network.encode()).hexdigest()[:11]


def all_segments(spec: RangeSpec) -> list[str]:
    return [labels.ACCESS_SEGMENT, *spec.segments]


def ensure_networks(backend: DockerBackend, pool: SubnetPool, spec: RangeSpec) -> dict[str, IPv4Network]:
    """Create the team's networks that do not exist yet (found by label); return every subnet."""
    existing = {
        n.labels.get(labels.SEGMENT): n
        for n in backend.networks(labels.filters(spec.exercise, spec.team))
    }
    subnets = {seg: IPv4Network(n.subnet) for seg, n in existing.items() if seg and n.subnet}
    missing = [seg for seg in all_segments(spec) if seg not in subnets]
    if not missing:
        return subnets
    fresh = pool.allocate(len(missing), (IPv4Network(s) for s in backend.used_subnets()))
    try:
        for segment, subnet in zip(missing, fresh):
            name = network_name(spec, segment)
            backend.create_network(
                name, str(subnet), bridge_name(name),
                {**labels.for_team(spec.exercise, spec.team), labels.SEGMENT: segment},
            )
            subnets[segment] = subnet
    finally:
        pool.release(fresh)
    return subnets


def layout(spec: RangeSpec, subnets: dict[str, IPv4Network]) -> Layout:
    addresses: dict[str, dict[str, str]] = {}
    counters = {segment: 0 for segment in subnets}
    for host in spec.hosts:
        addresses[host.name] = {}
        for segment in host.segments:
            addresses[host.name][segment] = str(host_address(subnets[segment], counters[segment]))
            counters[segment] += 1
    addresses[labels.GATEWAY_HOST] = {
        segment: str(host_address(subnets[segment], GATEWAY_INDEX))
        for segment in (labels.ACCESS_SEGMENT, *spec.access_segments)
    }
    return Layout(subnets, addresses)


def extra_hosts(spec: RangeSpec, plan: Layout, viewer: tuple[str, ...]) -> dict[str, str]:
    """Every name of the range, as seen from a host on the *viewer* segments.

    A name resolves to the address on a segment both hosts share, else to the
    target's first segment (reached through a router).
    """
    names: dict[str, str] = {}
    targets = [(h.name, h.aliases, h.segments) for h in spec.hosts]
    targets.append((labels.GATEWAY_HOST, (), tuple(plan.addresses[labels.GATEWAY_HOST])[1:] or
                    tuple(plan.addresses[labels.GATEWAY_HOST])))
    for name, aliases, segments in targets:
        shared = [seg for seg in segments if seg in viewer]
        address = plan.addresses[name][shared[0] if shared else segments[0]]
        for alias in (name, *aliases):
            names[alias] = address
    return names


def create_host(backend: DockerBackend, spec: RangeSpec, plan: Layout, host: HostSpec) -> str:
    """Create the container and place the scenario's files in it before it first starts.

    Files go in before start so that the image's start-up scripts (a router's
    firewall rules, a web server's site) already find them.
    """
    sysctls = {"net.ipv4.ping_group_range": "0 2147483647"}
    if host.forwarding:
        sysctls["net.ipv4.ip_forward"] = "1"
    container_id = backend.create_container(
        name=container_name(spec, host.name), image=host.image, hostname=host.name,
        labels={**labels.for_team(spec.exercise, spec.team), labels.HOST: host.name, labels.ROLE: "host"},
        networks=[
            (network_name(spec, seg), plan.addresses[host.name][seg], (host.name, *host.aliases))
            for seg in host.segments
        ],
        extra_hosts=extra_hosts(spec, plan, host.segments),
        cap_add=sorted(set(BASE_CAPABILITIES) | set(host.capabilities)), sysctls=sysctls,
        memory_bytes=host.limits.memory_bytes, nano_cpus=host.limits.nano_cpus, pids=host.limits.pids,
    )
    if host.files:
        backend.put_files(container_id, [(f.path, f.content, f.mode) for f in host.files])
    return container_id


def create_gateway(backend: DockerBackend, spec: RangeSpec, plan: Layout, bind_address: str) -> str:
    segments = (labels.ACCESS_SEGMENT, *spec.access_segments)
    return backend.create_container(
        name=container_name(spec, labels.GATEWAY_HOST), image=spec.gateway_image,
        hostname=labels.GATEWAY_HOST,
        labels={**labels.for_team(spec.exercise, spec.team), labels.HOST: labels.GATEWAY_HOST,
                labels.ROLE: "gateway"},
        networks=[(network_name(spec, s), plan.addresses[labels.GATEWAY_HOST][s], (labels.GATEWAY_HOST,))
                  for s in segments],
        extra_hosts=extra_hosts(spec, plan, segments), cap_add=BASE_CAPABILITIES,
        sysctls={"net.ipv4.ping_group_range": "0 2147483647"},
        memory_bytes=128 * 1024 * 1024, nano_cpus=250_000_000, pids=256,
        publish={"22/tcp": (bind_address, None)},
    )


def set_routes(backend: DockerBackend, spec: RangeSpec, plan: Layout, host: HostSpec, container_id: str) -> None:
    """No route out for any host; hosts with a gateway route through their router."""
    info = backend.container(container_id)
    if info is None or info.pid <= 0:
        raise ProvisionError(f"{host.name}: the container is not running")
    hostfw.remove_default_route(info.pid)
    if host.gateway is not None:
        router = spec.host(host.gateway)
        shared = next(seg for seg in host.segments if seg in router.segments)
        hostfw.set_default_route(info.pid, plan.addresses[router.name][shared])


def configure_inside(backend: DockerBackend, container_id: str, host: HostSpec) -> None:
    """Accounts, file owners and start-up commands, once per container (marked when done)."""
    if backend.exec(container_id, ["test", "-e", PROVISIONED_MARK], timeout=10).exit_code == 0:
        return
    for account in host.accounts:
        _create_account(backend, container_id, host.name, account)
    for placed in host.files:
        _must(backend.exec(container_id, ["chown", f"{placed.owner}:", placed.path], timeout=10),
              host.name, f"chown {placed.owner} {placed.path}")
    for index, command in enumerate(host.startup):
        result = backend.exec(container_id, ["sh", "-c", command], timeout=120, max_output=16 * 1024)
        _must(result, host.name, f"start-up command {index + 1} ({command[:60]})")
    backend.exec(container_id, ["sh", "-c", f"mkdir -p /etc/mamori && touch {PROVISIONED_MARK}"], timeout=10)


def _create_account(backend: DockerBackend, container_id: str, host: str, account) -> None:  # type: ignore[no-untyped-def]
    user = shlex.quote(account.user)
    home = f"/home/{account.user}"
    if account.admin:
        # No setuid under no-new-privileges: an administrator account is root under its own name.
        create = (f"id -u {user} >/dev/null 2>&1 || useradd -o -u 0 -g 0 -M -d {home} "
                  f"-s {shlex.quote(account.shell)} {user} && mkdir -p {home}")
    else:
        # Files placed before start may have made the home directory already, owned by root.
        create = (f"(id -u {user} >/dev/null 2>&1 || useradd -m -s {shlex.quote(account.shell)} {user}) "
                  f"&& chown {user}: {home}")
    _must(backend.exec(container_id, ["sh", "-c", create], timeout=30), host, f"creating account {account.user}")
    backend.put_file(container_id, "/run/mamori-passwords", f"{account.user}:{account.password}\n".encode(), 0o600)
    _must(backend.exec(container_id, ["sh", "-c", "chpasswd < /run/mamori-passwords; status=$?; "
                                      "rm -f /run/mamori-passwords; exit $status"], timeout=30),
          host, f"setting the password of {account.user}")


def _must(result, host: str, step: str) -> None:  # type: ignore[no-untyped-def]
    if not result.ok:
        why = "timed out" if result.timed_out else f"exit {result.exit_code}: {result.text.strip()[-300:]}"
        raise ProvisionError(f"{host}: {step} failed ({why})")


def wait_ready(address: str, ports: list[int], host: str, timeout: float = 90) -> None:
    """Ready when every TCP port answers from the control plane (sshd at least)."""
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        port = pending[0]
        try:
            with socket.create_connection((address, port), timeout=2):
                pending.pop(0)
                continue
        except OSError:
            if time.monotonic() > deadline:
                raise ProvisionError(f"{host}: port {port} did not answer within {int(timeout)} s") from None
            time.sleep(0.3)


def ready_ports(host: HostSpec) -> list[int]:
    return sorted({22, *(s.port for s in host.services if s.protocol == "tcp")})


def remove_quietly(backend: DockerBackend, container_id: str) -> None:
    try:
        backend.remove_container(container_id)
    except DockerFailure:
        pass
