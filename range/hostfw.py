"""The Docker host's own firewall rules that keep ranges in (iptables, idempotent).

Range bridges are named ``mmr…``. Docker's ``internal`` flag would forbid
routing through a router container, so ranges use ordinary bridges without
masquerading, and these rules close every way out:

- INPUT: nothing new from a range bridge reaches the Docker host itself;
- DOCKER-USER: nothing new leaves a range bridge for another interface, and
  nothing new enters one from outside, except what Docker's port publishing
  DNATs to a gateway (trainees at a venue reaching the bind address).

They are checked before every provisioning, so a restarted dockerd or a
flushed table gets them back.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess

from range.errors import RangeError

BRIDGE_PREFIX = "mmr"
RULES: tuple[tuple[str, ...], ...] = (
    ("INPUT", "-i", f"{BRIDGE_PREFIX}+", "-m", "conntrack", "!", "--ctstate", "ESTABLISHED,RELATED",
     "-m", "comment", "--comment", "mamori: ranges never reach the host", "-j", "DROP"),
    ("DOCKER-USER", "-i", f"{BRIDGE_PREFIX}+", "!", "-o", f"{BRIDGE_PREFIX}+",
     "-m", "comment", "--comment", "mamori: ranges have no way out", "-j", "DROP"),
    ("DOCKER-USER", "!", "-i", f"{BRIDGE_PREFIX}+", "-o", f"{BRIDGE_PREFIX}+", "-m", "conntrack", "!",
     "--ctstate", "ESTABLISHED,RELATED,DNAT", "-m", "comment", "--comment", "mamori: nothing enters a range",
     "-j", "DROP"),
)


class FirewallError(RangeError):
    """The host firewall rules could not be put in place."""


def ensure_rules() -> list[str]:
    """Insert any missing rule; return the ones that were missing (empty when all were there)."""
    iptables = shutil.which("iptables")
    if iptables is None:
        raise FirewallError("iptables is not installed on the Docker host (apt-get install iptables)")
    _run([iptables, "-N", "DOCKER-USER"], check=False)
    _remove_outdated(iptables)
    added = []
    for chain, *spec in RULES:
        if _run([iptables, "-C", chain, *spec], check=False).returncode != 0:
            _run([iptables, "-I", chain, "1", *spec])
            added.append(" ".join([chain, *spec]))
    return added


def _remove_outdated(iptables: str) -> None:
    """Delete our rules that an older version inserted and the current set no longer has."""
    wanted = {(chain, *spec) for chain, *spec in RULES}
    for chain in {rule[0] for rule in RULES}:
        listing = _run([iptables, "-S", chain], check=False).stdout.splitlines()
        for line in listing:
            if "mamori:" not in line or not line.startswith(f"-A {chain} "):
                continue
            spec = tuple(shlex.split(line)[2:])
            if not any(_same(spec, tuple(rule[1:])) for rule in wanted if rule[0] == chain):
                _run([iptables, "-D", chain, *spec], check=False)


def _same(listed: tuple[str, ...], rule: tuple[str, ...]) -> bool:
    """iptables -S prints a rule's words in its own order; compare them as sets of words."""
    return sorted(_canonical(listed)) == sorted(_canonical(rule))


def _canonical(rule: tuple[str, ...]) -> tuple[str, ...]:
    # iptables lists conntrack states in its own order (RELATED,ESTABLISHED).
    return tuple(",".join(sorted(w.split(","))) if "ESTABLISHED" in w else w for w in rule)


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise FirewallError(f"{' '.join(argv[:4])} failed: {result.stderr.strip()}")
    return result


def set_default_route(pid: int, via: str) -> None:
    """Route a container's traffic through *via* (its router), set from the host.

    The container needs no NET_ADMIN: the route is written from outside, in
    its network namespace.
    """
    nsenter = shutil.which("nsenter")
    if nsenter is None:
        raise FirewallError("nsenter is not installed on the Docker host (util-linux)")
    result = subprocess.run(
        [nsenter, "-t", str(pid), "-n", "ip", "route", "replace", "default", "via", via],
        capture_output=True, text=True, timeout=10,
    )
    if result.returncode != 0:
        raise FirewallError(f"setting the route via {via} failed: {result.stderr.strip()}")


def remove_default_route(pid: int) -> None:
    """Drop the default route Docker gave a container (its bridge, i.e. the Docker host)."""
    nsenter = shutil.which("nsenter")
    if nsenter is None:
        raise FirewallError("nsenter is not installed on the Docker host (util-linux)")
    subprocess.run([nsenter, "-t", str(pid), "-n", "ip", "route", "del", "default"],
                   capture_output=True, text=True, timeout=10)


ISOLATION_CHAINS = ("MAMORI-ISOLATE-IN", "MAMORI-ISOLATE-OUT")
_ISOLATION_JUMPS = (("INPUT", "MAMORI-ISOLATE-IN"), ("FORWARD", "MAMORI-ISOLATE-IN"), ("OUTPUT", "MAMORI-ISOLATE-OUT"))


def isolate(pid: int, keep: list[str]) -> None:
    """Cut a container off its networks, as an EDR's network containment does, set from the host.

    In the container's network namespace, every packet in, out or through is
    dropped — established connections too (an intruder's open session dies) —
    except loopback and traffic with the addresses in *keep* (the team's SSH
    gateway, so the team still reaches the host to examine it). Done again, it
    replaces the rules; the container needs no capability of its own.
    """
    iptables = _iptables()
    reconnect(pid)
    inbound, outbound = ISOLATION_CHAINS
    rules = [[inbound, "-i", "lo", "-j", "RETURN"], [outbound, "-o", "lo", "-j", "RETURN"]]
    for address in keep:
        rules += [[inbound, "-s", address, "-j", "RETURN"], [inbound, "-d", address, "-j", "RETURN"],
                  [outbound, "-d", address, "-j", "RETURN"]]
    rules += [[inbound, "-m", "comment", "--comment", "mamori: isolated", "-j", "DROP"],
              [outbound, "-m", "comment", "--comment", "mamori: isolated", "-j", "DROP"]]
    for chain in ISOLATION_CHAINS:
        _in_namespace(pid, [iptables, "-w", "5", "-N", chain])
    for rule in rules:
        _in_namespace(pid, [iptables, "-w", "5", "-A", *rule])
    for parent, chain in _ISOLATION_JUMPS:
        _in_namespace(pid, [iptables, "-w", "5", "-I", parent, "1", "-j", chain])


def reconnect(pid: int) -> bool:
    """Undo ``isolate`` (nothing to undo is fine); whether the host had been isolated."""
    iptables = _iptables()
    was = False
    for parent, chain in _ISOLATION_JUMPS:
        while _in_namespace(pid, [iptables, "-w", "5", "-D", parent, "-j", chain], check=False).returncode == 0:
            was = True
    for chain in ISOLATION_CHAINS:
        _in_namespace(pid, [iptables, "-w", "5", "-F", chain], check=False)
        _in_namespace(pid, [iptables, "-w", "5", "-X", chain], check=False)
    return was


def _iptables() -> str:
    iptables = shutil.which("iptables")
    if iptables is None:
        raise FirewallError("iptables is not installed on the Docker host (apt-get install iptables)")
    return iptables


def _in_namespace(pid: int, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    nsenter = shutil.which("nsenter")
    if nsenter is None:
        raise FirewallError("nsenter is not installed on the Docker host (util-linux)")
    if pid <= 0:
        raise FirewallError("the host is not running")
    return _run([nsenter, "-t", str(pid), "-n", *argv], check=check)
