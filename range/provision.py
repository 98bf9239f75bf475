"""Building one team's range: networks, hardened containers, accounts, files, routes, readiness."""
from __future__ import annotations

import hashlib
import random
import shlex
import socket
import time
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Callable

from range import hostfw, hostread, labels
from range.addressing import SubnetPool, host_address
from range.docker_backend import DockerBackend, DockerFailure
from range.errors import RangeError
from range.spec import Account, HostSpec, RangeSpec

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


NETWORK_ATTEMPTS = 20  # looks at the used subnets while another control plane takes them


def ensure_networks(backend: DockerBackend, pool: SubnetPool, spec: RangeSpec) -> dict[str, IPv4Network]:
    """Create the team's networks that do not exist yet (found by label); return every subnet."""
    existing = {
        n.labels.get(labels.SEGMENT): n
        for n in backend.networks(labels.filters(spec.exercise, spec.team))
    }
    subnets = {seg: IPv4Network(n.subnet) for seg, n in existing.items() if seg and n.subnet}
    for attempt in range(NETWORK_ATTEMPTS):
        missing = [seg for seg in all_segments(spec) if seg not in subnets]
        if not missing:
            break
        fixed = dict(spec.fixed_subnets)
        chosen = [IPv4Network(fixed[seg]) for seg in missing if seg in fixed]
        missing = [seg for seg in missing if seg not in fixed] + [seg for seg in missing if seg in fixed]
        allocated = len(missing) - len(chosen)
        fresh = pool.allocate(allocated, (IPv4Network(s) for s in backend.used_subnets())) if allocated else []
        fresh = fresh + chosen
        try:
            for segment, subnet in zip(missing, fresh):
                name = network_name(spec, segment)
                try:
                    backend.create_network(
                        name, str(subnet), bridge_name(name),
                        {**labels.for_team(spec.exercise, spec.team), labels.SEGMENT: segment},
                    )
                except DockerFailure as exc:
                    # Another control plane took the subnet between our look and our create: look again,
                    # after a moment of random length (two builders would otherwise race for the same ones).
                    if "overlap" not in str(exc).lower() or attempt == NETWORK_ATTEMPTS - 1:
                        raise
                    time.sleep(random.uniform(0.05, 0.3))
                    break
                subnets[segment] = subnet
        finally:
            pool.release(fresh[:allocated])
    return subnets


def layout(spec: RangeSpec, subnets: dict[str, IPv4Network]) -> Layout:
    addresses: dict[str, dict[str, str]] = {}
    counters = {segment: 0 for segment in subnets}
    fixed = {(h.name, seg): addr for h in spec.hosts for seg, addr in h.fixed_addresses}
    taken = set(fixed.values())
    for host in spec.hosts:
        addresses[host.name] = {}
        for segment in host.segments:
            address = fixed.get((host.name, segment))
            while address is None:
                candidate = str(host_address(subnets[segment], counters[segment]))
                counters[segment] += 1
                address = None if candidate in taken else candidate
            addresses[host.name][segment] = address
    addresses[labels.GATEWAY_HOST] = {
        segment: str(host_address(subnets[segment], GATEWAY_INDEX))
        for segment in (labels.ACCESS_SEGMENT, *spec.access_segments)
    }
    return Layout(subnets, addresses)


def extra_hosts(spec: RangeSpec, plan: Layout, viewer: tuple[str, ...], hidden_viewer: bool = False) -> dict[str, str]:
    """Every name of the range, as seen from a host on the *viewer* segments.

    A name resolves to the address on a segment both hosts share, else to the
    target's first segment (reached through a router). Visible hosts never
    list a hidden host's id (trainees read /etc/hosts), only its aliases —
    the domains a real resolver would answer for; in a range with its own DNS
    server not even those: the server answers them (and logs the question).
    """
    names: dict[str, str] = {}
    shown = hidden_viewer or spec.dns is None
    targets = [
        (h.name if hidden_viewer or not h.hidden else None, h.aliases if shown or not h.hidden else (), h.segments)
        for h in spec.hosts
    ]
    targets.append((labels.GATEWAY_HOST, (), tuple(plan.addresses[labels.GATEWAY_HOST])[1:] or
                    tuple(plan.addresses[labels.GATEWAY_HOST])))
    for host, (name, aliases, segments) in zip([*spec.hosts, None], targets):
        key = host.name if host is not None else labels.GATEWAY_HOST
        shared = [seg for seg in segments if seg in viewer]
        address = plan.addresses[key][shared[0] if shared else segments[0]]
        for alias in ((name,) if name else ()) + tuple(aliases):
            names[alias] = address
    return names


RANGE_HOSTS = "/etc/mamori/range-hosts"  # the names the range's DNS server answers (hosts-file format)


def range_hosts(spec: RangeSpec, plan: Layout) -> bytes:
    """Every name of the range, hidden hosts' too, as the DNS host sees them: one line per address."""
    server = spec.host(spec.dns) if spec.dns is not None else None
    viewer = server.segments if server is not None else ()
    by_address: dict[str, list[str]] = {}
    for name, address in extra_hosts(spec, plan, viewer, hidden_viewer=True).items():
        by_address.setdefault(address, []).append(name)
    return "".join(f"{address}\t{' '.join(names)}\n" for address, names in by_address.items()).encode()


def resolvers(spec: RangeSpec, plan: Layout, segments: tuple[str, ...], name: str) -> list[str]:
    """The range's DNS server as a host on *segments* reaches it: on a shared segment, else its first address."""
    if spec.dns is None or spec.dns == name:
        return []
    server = spec.host(spec.dns)
    shared = [seg for seg in server.segments if seg in segments]
    return [plan.addresses[server.name][shared[0] if shared else server.segments[0]]]


def create_host(backend: DockerBackend, spec: RangeSpec, plan: Layout, host: HostSpec) -> str:
    """Create the container and place the scenario's files in it before it first starts.

    Files go in before start so that the image's start-up scripts (a router's
    firewall rules, a web server's site, the DNS server's names) already find them.
    With the range's own DNS server, Docker's resolver knows hosts by their id
    only, so every other name is asked of that server.
    """
    sysctls = {"net.ipv4.ping_group_range": "0 2147483647"}
    if host.forwarding:
        sysctls["net.ipv4.ip_forward"] = "1"
    container_id = backend.create_container(
        name=container_name(spec, host.name), image=host.image, hostname=host.name,
        labels={**labels.for_team(spec.exercise, spec.team), labels.HOST: host.name, labels.ROLE: "host"},
        networks=[
            (network_name(spec, seg), plan.addresses[host.name][seg],
             (host.name,) if spec.dns is not None else (host.name, *host.aliases))
            for seg in host.segments
        ],
        extra_hosts=extra_hosts(spec, plan, host.segments, host.hidden),
        cap_add=sorted(set(BASE_CAPABILITIES) | set(host.capabilities)), sysctls=sysctls,
        memory_bytes=host.limits.memory_bytes, nano_cpus=host.limits.nano_cpus, pids=host.limits.pids,
        dns=resolvers(spec, plan, host.segments, host.name),
    )
    names = [(RANGE_HOSTS, range_hosts(spec, plan), 0o644)] if host.name == spec.dns else []
    backend.put_files(container_id, [(f.path, f.content, f.mode) for f in host.files] + names + provisioning_files(host))
    return container_id


def gateway_host(spec: RangeSpec) -> HostSpec:
    """The team's SSH gateway, as a host: on the access network and the access segments."""
    return HostSpec(
        name=labels.GATEWAY_HOST, image=spec.gateway_image,
        segments=(labels.ACCESS_SEGMENT, *spec.access_segments),
        accounts=(Account(spec.gateway_user, spec.gateway_password),),
    )


def create_gateway(backend: DockerBackend, spec: RangeSpec, plan: Layout, bind_address: str, port: int) -> str:
    """The gateway, its SSH published on a fixed port (a random one would change at every restart)."""
    segments = (labels.ACCESS_SEGMENT, *spec.access_segments)
    container_id = backend.create_container(
        name=container_name(spec, labels.GATEWAY_HOST), image=spec.gateway_image,
        hostname=labels.GATEWAY_HOST,
        labels={**labels.for_team(spec.exercise, spec.team), labels.HOST: labels.GATEWAY_HOST,
                labels.ROLE: "gateway"},
        networks=[(network_name(spec, s), plan.addresses[labels.GATEWAY_HOST][s], (labels.GATEWAY_HOST,))
                  for s in segments],
        extra_hosts=extra_hosts(spec, plan, segments), cap_add=BASE_CAPABILITIES,
        sysctls={"net.ipv4.ping_group_range": "0 2147483647"},
        memory_bytes=128 * 1024 * 1024, nano_cpus=250_000_000, pids=256,
        publish={"22/tcp": (bind_address, port)}, dns=_gateway_resolvers(spec, plan, segments),
    )
    backend.put_files(container_id, provisioning_files(gateway_host(spec)))
    return container_id


def _gateway_resolvers(spec: RangeSpec, plan: Layout, segments: tuple[str, ...]) -> list[str]:
    """The gateway has no route out: it asks the range's DNS server only if they share a segment."""
    if spec.dns is None or not set(spec.host(spec.dns).segments) & set(segments):
        return []
    return resolvers(spec, plan, segments, labels.GATEWAY_HOST)


def set_routes(backend: DockerBackend, spec: RangeSpec, plan: Layout, host: HostSpec, container_id: str) -> int:
    """No route out for any host; hosts with a gateway route through their router. Returns the PID."""
    info = backend.container(container_id)
    if info is None or info.pid <= 0:
        raise ProvisionError(f"{host.name}: the container is not running")
    hostfw.remove_default_route(info.pid)
    if host.gateway is not None:
        router = spec.host(host.gateway)
        shared = next(seg for seg in host.segments if seg in router.segments)
        hostfw.set_default_route(info.pid, plan.addresses[router.name][shared])
    return info.pid


PROVISION_SCRIPT = "/etc/mamori/provision.sh"
PASSWORDS_FILE = "/etc/mamori/.passwords"
# Written by the host's init (range/images/base/mamori-init) when it ran the script; the platform
# places ROUTED_MARK when the routes are set, which lets the init go on.
ROUTED_MARK = "/etc/mamori/routed"
PROVISION_STATUS = "/etc/mamori/provision.status"
PROVISION_LOG = "/etc/mamori/provision.log"
PROVISION_TIMEOUT = 300.0


def provision_script(host: HostSpec) -> bytes:
    """One shell script for accounts, passwords, file owners and start-up commands.

    One exec per host instead of several per account and command; each step
    announces itself on stderr so a failure names the step.
    """
    lines = [
        "#!/bin/sh",
        "set -u",
        f"[ -e {PROVISIONED_MARK} ] && exit 0",
        "step() { printf '@@step %s\\n' \"$1\" >&2; }",
    ]
    for account in host.accounts:
        user, home, shell = shlex.quote(account.user), f"/home/{account.user}", shlex.quote(account.shell)
        if account.admin:
            # No setuid under no-new-privileges: an administrator account is root under its own name.
            create = f"id -u {user} >/dev/null 2>&1 || useradd -o -u 0 -g 0 -M -d {home} -s {shell} {user}; mkdir -p {home}"
        else:
            # Files placed before start may have made the home directory already, owned by root.
            create = f"(id -u {user} >/dev/null 2>&1 || useradd -m -s {shell} {user}) && chown {user}: {home}"
        lines += [f"step {shlex.quote('creating account ' + account.user)}", f"{{ {create}; }} || exit 10"]
    if host.accounts:
        # SHA-512 crypt: a fraction of yescrypt's CPU cost, which adds up over a whole venue.
        lines += ["step 'setting passwords'", f"chpasswd -c SHA512 < {PASSWORDS_FILE} || exit 11"]
    for placed in host.files:
        target = shlex.quote(placed.path)
        lines += [f"step {shlex.quote(f'chown {placed.owner} {placed.path}')}",
                  f"chown {shlex.quote(placed.owner)}: {target} || exit 12"]
    for index, command in enumerate(host.startup):
        lines += [f"step {shlex.quote(f'start-up command {index + 1} ({command[:60]})')}",
                  f"sh -c {shlex.quote(command)} || exit 13"]
    # Removed only when everything worked, so that a retry after a failed step can set them again.
    lines += [f"touch {PROVISIONED_MARK}", f"rm -f {PASSWORDS_FILE}", ""]
    return "\n".join(lines).encode("utf-8")


def provisioning_files(host: HostSpec) -> list[tuple[str, bytes, int]]:
    passwords = "".join(f"{a.user}:{a.password}\n" for a in host.accounts).encode("utf-8")
    return [(PROVISION_SCRIPT, provision_script(host), 0o700), (PASSWORDS_FILE, passwords, 0o600)]


def configure_inside(backend: DockerBackend, container_id: str, host: HostSpec) -> None:
    """Run the host's provisioning script (placed before start) now; it does nothing a second time."""
    result = backend.exec(container_id, ["sh", PROVISION_SCRIPT], timeout=PROVISION_TIMEOUT, max_output=32 * 1024)
    if not result.ok:
        raise _provisioning_failed(host.name, result.text, "timed out" if result.timed_out
                                   else f"exit {result.exit_code}")


def release_provisioning(backend: DockerBackend, container_id: str, pid: int) -> None:
    """The host's routes are set: its init may run the provisioning script (``mamori-init`` waits for this).

    The mark is made from the Docker host (no API call: an archive upload
    costs a Docker Engine that is starting many containers a fifth of a second).
    """
    try:
        hostread.create_empty(pid, container_id, ROUTED_MARK)
    except hostread.HostReadUnavailable:
        backend.put_files(container_id, [(ROUTED_MARK, b"", 0o644)])


def await_provisioned(backend: DockerBackend, container_id: str, pid: int, host: HostSpec, *,
                      retry: bool = False, timeout: float = PROVISION_TIMEOUT) -> None:
    """Wait until the host's init has run its provisioning script; a failure names the step.

    Read from the Docker host (``range.hostread``; the Docker API when that
    cannot answer), so waiting costs no process in the container. With
    *retry*, a failure left by an earlier attempt runs the script again.
    """
    deadline = time.monotonic() + timeout
    while True:
        if _read(backend, container_id, pid, PROVISIONED_MARK) is not None:
            return
        status = (_read(backend, container_id, pid, PROVISION_STATUS) or b"").strip()
        if status:
            if status == b"0":
                return
            if retry:
                configure_inside(backend, container_id, host)
                return
            log = (_read(backend, container_id, pid, PROVISION_LOG) or b"").decode("utf-8", "replace")
            raise _provisioning_failed(host.name, log, f"exit {status.decode('ascii', 'replace')}")
        if time.monotonic() > deadline:
            raise ProvisionError(f"{host.name}: provisioning did not finish within {int(timeout)} s")
        time.sleep(0.05)


def _read(backend: DockerBackend, container_id: str, pid: int, path: str) -> bytes | None:
    try:
        return hostread.read_file(pid, container_id, path, 16 * 1024)
    except hostread.HostReadUnavailable:
        return backend.get_file(container_id, path, 16 * 1024)


def _provisioning_failed(name: str, output: str, why: str) -> ProvisionError:
    lines = output.splitlines()
    steps = [line[len("@@step "):] for line in lines if line.startswith("@@step ")]
    detail = "\n".join(line for line in lines if not line.startswith("@@step ")).strip()[-300:]
    return ProvisionError(f"{name}: {steps[-1] if steps else 'provisioning'} failed ({why}"
                          f"{': ' + detail if detail and why != 'timed out' else ''})")


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
            time.sleep(0.1)


def ready_ports(host: HostSpec) -> list[int]:
    return sorted({22, *(s.port for s in host.services if s.protocol == "tcp")})
