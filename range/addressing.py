"""Subnets for range segments, from a configurable pool instead of Docker's small default pools."""
from __future__ import annotations

import threading
from ipaddress import IPv4Address, IPv4Network
from typing import Iterable

from range.errors import RangeError

DEFAULT_POOL = "10.160.0.0/12"
SEGMENT_PREFIX = 24
FIRST_HOST_OFFSET = 10  # .1 is the bridge on the Docker host; hosts start at .10


class PoolExhausted(RangeError):
    """No free subnet is left in the pool."""


class SubnetPool:
    """Hands out free /24s of a pool; ``used`` are subnets Docker already has."""

    def __init__(self, pool: str = DEFAULT_POOL, prefix: int = SEGMENT_PREFIX) -> None:
        self.pool = IPv4Network(pool)
        self.prefix = prefix
        self._lock = threading.Lock()
        self._reserved: set[IPv4Network] = set()

    def allocate(self, count: int, used: Iterable[IPv4Network]) -> list[IPv4Network]:
        with self._lock:
            taken = list(used) + list(self._reserved)
            free = []
            for candidate in self.pool.subnets(new_prefix=self.prefix):
                if not any(candidate.overlaps(other) for other in taken):
                    free.append(candidate)
                    if len(free) == count:
                        self._reserved.update(free)
                        return free
        raise PoolExhausted(
            f"the address pool {self.pool} has no {count} free /{self.prefix} subnets left; "
            "tear down finished exercises or set a larger MAMORI_RANGE_POOL"
        )

    def release(self, subnets: Iterable[IPv4Network]) -> None:
        with self._lock:
            self._reserved.difference_update(subnets)


def host_address(subnet: IPv4Network, index: int) -> IPv4Address:
    """The address of the *index*-th host (0-based) on a segment."""
    address = subnet.network_address + FIRST_HOST_OFFSET + index
    if address >= subnet.broadcast_address:
        raise RangeError(f"segment {subnet} cannot hold {index + 1} hosts")
    return address


def gateway_address(subnet: IPv4Network) -> IPv4Address:
    """The Docker bridge's own address (the Docker host side)."""
    return subnet.network_address + 1
