"""Subnet allocation (pure): our own pool, never an address Docker already uses."""
from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from range.addressing import PoolExhausted, SubnetPool, host_address


def test_forty_teams_of_four_segments_and_access_fit_in_the_default_pool() -> None:
    pool = SubnetPool()
    taken: list[IPv4Network] = []
    for _ in range(40):
        taken += pool.allocate(5, taken)
    assert len(set(taken)) == 200
    assert all(subnet.prefixlen == 24 and subnet.subnet_of(pool.pool) for subnet in taken)


def test_used_subnets_are_skipped_and_reservations_do_not_collide() -> None:
    pool = SubnetPool("10.250.0.0/22")
    used = [IPv4Network("10.250.0.0/23")]  # e.g. a foreign Docker network
    first = pool.allocate(1, used)
    second = pool.allocate(1, used)  # the first is still reserved: no double allocation
    assert first != second and not any(s.overlaps(used[0]) for s in first + second)
    with pytest.raises(PoolExhausted, match="MAMORI_RANGE_POOL"):
        pool.allocate(1, used)
    pool.release(first)
    assert pool.allocate(1, used) == first


def test_host_addresses_start_after_the_bridge_and_stay_inside() -> None:
    subnet = IPv4Network("10.160.3.0/24")
    assert str(host_address(subnet, 0)) == "10.160.3.10"
    assert str(host_address(subnet, 200)) == "10.160.3.210"
    with pytest.raises(Exception, match="cannot hold"):
        host_address(subnet, 245)
