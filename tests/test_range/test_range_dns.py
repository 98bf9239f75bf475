"""The range's own DNS server: hidden hosts' names leave /etc/hosts, and are answered (and logged) by the server."""
from __future__ import annotations

import time
from dataclasses import replace
from ipaddress import IPv4Network
from pathlib import Path
from typing import Iterator

import pytest

from app.scenario import load_scenario_file
from app.services import ranges
from range import labels
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.images import build_image, image_tag
from range.provision import RANGE_HOSTS, extra_hosts, layout, range_hosts, resolvers
from range.spec import Account, HostSpec, RangeSpec, ServicePort

from tests.test_range.conftest import new_exercise_id

C2 = "update.minato-cdn.example"
WEB = "www.city.minato.example"


def dns_range(exercise: str, team: str, *, dns: str | None = "ns01") -> RangeSpec:
    """A trainee's PC and a web server on the office LAN, the range's DNS server, a hidden C2 with a domain."""
    hosts = (
        HostSpec(name="ws01", image=image_tag("base"), segments=("office",),
                 accounts=(Account("tanaka", "tanaka-pass-1"),), trainee_login=True),
        HostSpec(name="web01", image=image_tag("base"), segments=("office",), aliases=(WEB,)),
        HostSpec(name="c2", image=image_tag("base"), segments=("office",), aliases=(C2,), hidden=True),
    )
    if dns is not None:
        hosts += (HostSpec(name="ns01", image=image_tag("dns"), segments=("office", "dmz"),
                           services=(ServicePort("dns", 53),)),)
    return RangeSpec(
        exercise=exercise, team=team, segments=("office", "dmz"), hosts=hosts, access_segments=("office",),
        gateway_image=image_tag("base"), gateway_user="team", gateway_password="gateway-pass-1", dns=dns,
    )


def plan_of(spec: RangeSpec):  # type: ignore[no-untyped-def]
    subnets = {labels.ACCESS_SEGMENT: IPv4Network("10.9.0.0/24"), "office": IPv4Network("10.9.1.0/24"),
               "dmz": IPv4Network("10.9.2.0/24")}
    return layout(spec, subnets)


def test_without_a_dns_server_etc_hosts_is_as_before() -> None:
    spec = dns_range("ex", "1", dns=None)
    names = extra_hosts(spec, plan_of(spec), ("office",))
    assert C2 in names and WEB in names and "web01" in names
    assert "c2" not in names  # a hidden host's id never was there


def test_with_a_dns_server_visible_hosts_lose_the_hidden_hosts_names_only() -> None:
    spec = dns_range("ex", "1")
    plan = plan_of(spec)
    visible = extra_hosts(spec, plan, ("office",))
    assert C2 not in visible and "c2" not in visible
    assert visible[WEB] == plan.addresses["web01"]["office"] and "ns01" in visible
    hidden = extra_hosts(spec, plan, ("office",), hidden_viewer=True)
    assert hidden[C2] == plan.addresses["c2"]["office"]


def test_the_dns_server_knows_every_name_and_every_host_asks_it() -> None:
    spec = dns_range("ex", "1")
    plan = plan_of(spec)
    lines = range_hosts(spec, plan).decode().splitlines()
    assert f"{plan.addresses['c2']['office']}\tc2 {C2}" in lines
    assert f"{plan.addresses['web01']['office']}\tweb01 {WEB}" in lines
    assert resolvers(spec, plan, ("office",), "ws01") == [plan.addresses["ns01"]["office"]]
    assert resolvers(spec, plan, ("dmz",), "x") == [plan.addresses["ns01"]["dmz"]]
    assert resolvers(spec, plan, ("elsewhere",), "x") == [plan.addresses["ns01"]["office"]]  # its first address
    assert resolvers(spec, plan, ("office",), "ns01") == []
    assert resolvers(replace(spec, dns=None), plan, ("office",), "ws01") == []


@pytest.fixture(scope="module")
def engine(docker_backend: DockerBackend) -> DockerRangeEngine:
    for name in ("base", "dns"):
        build_image(docker_backend, name, log=lambda line: None)
    return DockerRangeEngine(docker_backend)


@pytest.fixture
def built(engine: DockerRangeEngine) -> Iterator[RangeSpec]:
    spec = dns_range(new_exercise_id(), "1")
    try:
        engine.provision(spec)
        yield spec
    finally:
        engine.teardown(spec.exercise)


def sh(engine: DockerRangeEngine, spec: RangeSpec, host: str, command: str) -> str:
    result = engine.exec(spec.exercise, spec.team, host, ["sh", "-c", command])
    assert result.ok, (command, result.text)
    return result.text


@pytest.mark.docker
def test_a_trainee_resolves_the_c2_domain_only_through_the_logged_dns(engine: DockerRangeEngine,
                                                                      built: RangeSpec) -> None:
    spec = built
    addresses = {host.name: host.addresses["office"] for host in engine.status(spec).hosts}
    c2_address, ws01_address = addresses["c2"], addresses["ws01"]
    etc_hosts = sh(engine, spec, "ws01", "cat /etc/hosts")
    assert C2 not in etc_hosts and WEB in etc_hosts
    assert C2 in sh(engine, spec, "ns01", f"cat {RANGE_HOSTS}")
    assert sh(engine, spec, "ws01", f"getent hosts {C2}").split() == [c2_address, C2]
    deadline = time.monotonic() + 10
    log = ""
    while time.monotonic() < deadline and C2 not in log:
        log = sh(engine, spec, "ns01", "cat /var/log/dns/queries.log")
        time.sleep(0.2)
    assert f"query[A] {C2} from {ws01_address}" in log
    # The hidden host itself still finds every name in its own /etc/hosts.
    assert C2 in sh(engine, spec, "c2", "cat /etc/hosts")
    assert "NXDOMAIN" not in sh(engine, spec, "ws01", "getent hosts web01 || echo NXDOMAIN")
    # The gateway shares the office LAN with the server: trainees' names resolve there the same way.
    assert C2 not in sh(engine, spec, labels.GATEWAY_HOST, "cat /etc/hosts")
    assert sh(engine, spec, labels.GATEWAY_HOST, f"getent hosts {C2}").split() == [c2_address, C2]


def test_a_scenario_names_its_dns_server_and_the_range_uses_it(tmp_path: Path) -> None:
    minimal = Path(__file__).resolve().parent.parent / "scenarios" / "valid" / "minimal.yaml"
    text = minimal.read_text(encoding="utf-8").replace("  access_segments: [office]\n",
                                                       "  access_segments: [office]\n  dns: ns01\n", 1)
    text = text.replace("injects:\n", """    - id: ns01
      name: {ja: DNSサーバ, en: DNS server}
      image: dns
      segments: [office]
injects:
""", 1)
    path = tmp_path / "with-dns.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_scenario_file(path)
    spec = ranges.compile_model(loaded.scenario, loaded.bundle(), exercise="ex", team="1",
                                gateway_user="team", gateway_password="gateway-pass-1")
    assert spec.dns == "ns01"
    assert "update.minato-cdn.example" not in extra_hosts(spec, plan_of(spec), ("office",))
