"""Benchmark: one scoring round of N teams × 10 checks, against a naive `docker exec` per check.

The platform side runs the round exactly as ``Scorer`` does (``run_checks``: a
``RoundProbe`` around a ``RangeProbe`` per team, ``run_check`` on a pool of
``ROUND_CONCURRENCY`` workers). The naive side runs, for the same checks and
with the same concurrency, one `docker exec` of the obvious shell equivalent
each (pgrep -f, sha256sum / grep, nc -z, curl, grep -r for a search). Rounds of
both alternate; printed are the medians and their ratio (target ≤ 0.4), and a
breakdown by check type (and, when over target, of the engine calls and Docker
API requests). The range is provisioned in the desired state, so every check
must come back UP: an ERROR (or a DOWN) on the platform's side, or an ERROR on
the naive side, fails the bench, so neither can be fast by being broken.
Everything made is labelled and removed, also when interrupted.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.runtime.rounds import ROUND_CONCURRENCY, CheckJob, run_checks  # noqa: E402
from app.scenario import load_scenario_file  # noqa: E402
from app.services.ranges import compile_model  # noqa: E402
from range import hostread, netns  # noqa: E402
from range.docker_backend import DockerBackend  # noqa: E402
from range.engine import DockerRangeEngine  # noqa: E402
from range.images import build_image  # noqa: E402
from range.netprobe import tcp  # noqa: E402
from range.probes import PROJECT_ROOT, RangeProbe  # noqa: E402
from range.provision import container_name  # noqa: E402
from range.spec import RangeSpec  # noqa: E402
from scoring.checks import CheckResult  # noqa: E402
from scoring.probe import RoundProbe  # noqa: E402

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "round-bench.yaml"
TARGET = 0.4
NAIVE_GRACE = 2.0  # the naive exec's timeout is the check's own plus this, as the netprobe's is


# The platform's way -----------------------------------------------------------------------

def platform_round(engine: DockerRangeEngine, specs: list[RangeSpec], checks: list[Any]) -> list[CheckResult]:
    """One round as ``Scorer.run_due_round`` runs it, without the database on either side."""
    probes = {n: RoundProbe(RangeProbe(engine, spec)) for n, spec in enumerate(specs)}
    jobs = [CheckJob(n, check, 0.0, 0) for n in probes for check in checks]
    return run_checks(jobs, probes, ROUND_CONCURRENCY)


# The naive way: one `docker exec` per check -------------------------------------------------

def _grep(pattern: str) -> str:
    """A ``grep -q`` for a Python pattern of the simple kind scenarios use (leading inline flags as options)."""
    inline = re.match(r"\(\?([a-z]+)\)", pattern)
    body = pattern[inline.end():] if inline else pattern
    return f"grep {'-qiE' if inline and 'i' in inline.group(1) else '-qE'} {shlex.quote(body)}"


def naive_command(check: Any) -> tuple[str, list[str], str, int, float]:
    """(host, argv, user, the exit status that means UP, timeout) of the obvious shell equivalent."""
    p, kind = check.params, check.type
    if kind == "process":  # pgrep never matches itself; a shell around it would
        return p.host, ["pgrep", "-f", p.pattern], "root", 0 if p.expect == "present" else 1, 10.0
    if kind == "file":
        path = shlex.quote(p.path)
        tests = [f"test -f {path}"]
        if p.sha256:
            tests.append(f"sha256sum {path} | grep -q ^{p.sha256}")
        tests += [f"{_grep(p.contains)} {path}"] if p.contains else []
        tests += [f"! {_grep(p.not_contains)} {path}"] if p.not_contains else []
        return p.host, ["sh", "-c", " && ".join(tests)], "root", 0, 10.0
    if kind == "tcp":
        argv = ["nc", "-z", "-w", f"{p.timeout:g}", p.host, str(p.port)]
        return p.source, argv, "root", 0 if p.expect == "open" else 1, p.timeout
    if kind == "http":
        fetch = f"body=$(curl -sS -m {p.timeout:g} -w '\\n%{{http_code}}' {shlex.quote(p.url)})"
        tests = [fetch, f'[ "${{body##*\n}}" = {p.expect_status} ]']
        tests += [f'printf %s "$body" | {_grep(p.contains)}'] if p.contains else []
        tests += [f'! printf %s "$body" | {_grep(p.not_contains)}'] if p.not_contains else []
        return p.source, ["sh", "-c", " && ".join(tests)], "root", 0, p.timeout
    if kind == "search":  # the grep a scenario used before the command type was removed
        argv = ["sh", "-c", f"! grep -rlsE {shlex.quote(p.contains or '.')} {shlex.quote(p.path)}"]
        return p.host, argv, "root", 0, 10.0
    raise SystemExit(f"bench/rounds.py has no naive equivalent of a {kind!r} check")


def naive_round(backend: DockerBackend, specs: list[RangeSpec], checks: list[Any],
                concurrency: int) -> list[CheckResult]:
    def one(job: tuple[RangeSpec, Any]) -> CheckResult:
        spec, check = job
        host, argv, user, up_exit, timeout = naive_command(check)
        started = time.monotonic()
        try:  # the container by name, as `docker exec NAME …` would
            out = backend.exec(container_name(spec, host), argv, user=user, timeout=timeout + NAIVE_GRACE)
        except Exception as exc:  # the same rule as run_check: a failure is an ERROR result
            return CheckResult("error", f"{type(exc).__name__}: {exc}", time.monotonic() - started)
        status = "error" if out.exit_code is None else "up" if out.exit_code == up_exit else "down"
        return CheckResult(status, out.text[-200:], time.monotonic() - started)

    jobs = [(spec, check) for spec in specs for check in checks]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(jobs))) as pool:
        return list(pool.map(one, jobs))


# Ranges ---------------------------------------------------------------------------------------

def provision_all(engine: DockerRangeEngine, specs: list[RangeSpec], concurrency: int) -> None:
    """Provision every team like bench/provision.py; on an interrupt, start no further team."""
    pool = ThreadPoolExecutor(concurrency)
    try:
        list(pool.map(engine.provision, specs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM too goes through the teardown in ``finally``


# Profile --------------------------------------------------------------------------------------

def by_type(checks: list[Any], rounds: list[list[CheckResult]]) -> dict[str, float]:
    """Median seconds of one check, per check type, over every team and round."""
    seconds: dict[str, list[float]] = defaultdict(list)
    for results in rounds:
        for n, result in enumerate(results):
            seconds[checks[n % len(checks)].type].append(result.seconds)
    return {kind: statistics.median(values) for kind, values in seconds.items()}


def primitives(engine: DockerRangeEngine, spec: RangeSpec, samples: int = 15) -> dict[str, float]:
    """Median milliseconds of the engine calls a RangeProbe makes, one at a time (no contention)."""
    backend, host = engine.backend, spec.hosts[0].name
    cid = engine.container_id(spec.exercise, spec.team, host)
    pid = backend.container(cid).pid  # type: ignore[union-attr]
    netprobe = [sys.executable, "-E", "-s", "-m", "range.netprobe", "tcp", "127.0.0.1", "9", "1"]
    calls: dict[str, Callable[[], object]] = {
        "container_id (list by label)": lambda: engine.container_id(spec.exercise, spec.team, host),
        "inspect (container pid)": lambda: backend.container(cid),
        "status(spec) (list + networks)": lambda: engine.status(spec),
        "docker top": lambda: backend.api.top(cid, ps_args="-eo pid,ppid,uid,args"),
        "get_archive /etc/passwd": lambda: backend.get_file(cid, "/etc/passwd"),
        "hostread.processes (cgroup + /proc)": lambda: hostread.processes(pid, cid),
        "hostread.read_file /etc/passwd (openat2)": lambda: hostread.read_file(pid, cid, "/etc/passwd", 1 << 20),
        "netns thread + range.netprobe.tcp": lambda: netns.run_in_network_namespace(
            pid, cid, lambda opened: tcp("127.0.0.1", 9, 1, opened), 3),
        "python -m range.netprobe (no nsenter)": lambda: subprocess.run(netprobe, cwd=PROJECT_ROOT,
                                                                        capture_output=True, check=False),
        "nsenter + python -m range.netprobe": lambda: subprocess.run(
            ["nsenter", "-t", str(pid), "-n", *netprobe], cwd=PROJECT_ROOT, capture_output=True, check=False),
        "docker exec true (create + start + inspect)": lambda: backend.exec(cid, ["true"]),
    }
    out = {}
    for name, call in calls.items():
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        out[name] = statistics.median(times) * 1000
    return out


def api_requests(backend: DockerBackend, run: Callable[[], object]) -> Counter[str]:
    """Docker API requests made by *run*, by method and endpoint (ids and names folded)."""
    counts: Counter[str] = Counter()
    original = backend.api.send

    def counting(request: Any, **kwargs: Any) -> Any:
        parts = request.path_url.split("?")[0].split("/")
        endpoint = "/".join("{id}" if len(part) >= 20 or part.startswith("mmr-") else part for part in parts[2:])
        counts[f"{request.method} /{endpoint}"] += 1
        return original(request, **kwargs)

    backend.api.send = counting  # type: ignore[method-assign]
    try:
        run()
    finally:
        backend.api.send = original  # type: ignore[method-assign]
    return counts


# Reporting ------------------------------------------------------------------------------------

def tally(results: list[CheckResult]) -> Counter[str]:
    return Counter(r.status for r in results)


def explain_errors(label: str, checks: list[Any], results: list[CheckResult]) -> None:
    for n, result in enumerate(results):
        if result.status != "up":
            print(f"  {label} team {n // len(checks) + 1} {checks[n % len(checks)].id}: "
                  f"{result.status}: {result.reason}", file=sys.stderr)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    results = fn()
    return time.perf_counter() - started, results


def measure(engine: DockerRangeEngine, specs: list[RangeSpec], checks: list[Any],
            repeat: int) -> dict[str, Any]:
    platform = lambda: platform_round(engine, specs, checks)  # noqa: E731
    naive = lambda: naive_round(engine.backend, specs, checks, ROUND_CONCURRENCY)  # noqa: E731
    platform(), naive()  # warm-up: connection pools, page cache, Python byte code
    times: dict[str, list[float]] = {"platform": [], "naive": []}
    results: dict[str, list[list[CheckResult]]] = {"platform": [], "naive": []}
    for n in range(repeat):
        order = [("platform", platform), ("naive", naive)] if n % 2 == 0 else [("naive", naive), ("platform", platform)]
        for name, fn in order:
            seconds, found = timed(fn)
            times[name].append(seconds)
            results[name].append(found)
    return {"times": times, "results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds of each side")
    parser.add_argument("--concurrency", type=int, default=4, help="teams provisioned at once")
    parser.add_argument("--profile", action="store_true", help="print the breakdown even when on target")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    loaded = load_scenario_file(SCENARIO)
    checks = list(loaded.scenario.checks)
    backend = DockerBackend()
    engine = DockerRangeEngine(backend)
    for name in sorted({h.image for h in loaded.scenario.network.hosts} | {"base"}):
        build_image(backend, name, log=lambda line: None)
    exercise = f"benchr{uuid.uuid4().hex[:6]}"
    specs = [compile_model(loaded.scenario, loaded.bundle(), exercise=exercise, team=str(n),
                           gateway_user=f"team{n:02d}", gateway_password="bench-pass-1")
             for n in range(1, args.teams + 1)]
    try:
        provision_seconds, _ = timed(lambda: provision_all(engine, specs, args.concurrency))
        run = measure(engine, specs, checks, args.repeat)
        profile = None
        platform_s, naive_s = (statistics.median(run["times"][k]) for k in ("platform", "naive"))
        if args.profile or platform_s / naive_s > TARGET:
            profile = {
                "primitives_ms": primitives(engine, specs[0]),
                "platform_requests": api_requests(backend, lambda: platform_round(engine, specs, checks)),
                "naive_requests": api_requests(backend, lambda: naive_round(backend, specs, checks,
                                                                            ROUND_CONCURRENCY)),
            }
    finally:
        engine.teardown(exercise)
    return report(args, checks, provision_seconds, run, profile)


def report(args: argparse.Namespace, checks: list[Any], provision_seconds: float, run: dict[str, Any],
           profile: dict[str, Any] | None) -> int:
    times, results = run["times"], run["results"]
    platform_s, naive_s = statistics.median(times["platform"]), statistics.median(times["naive"])
    ratio = platform_s / naive_s
    counts = {side: tally([r for found in results[side] for r in found]) for side in ("platform", "naive")}
    kinds = Counter(c.type for c in checks)
    result = {
        "teams": args.teams, "checks_per_team": len(checks), "concurrency": ROUND_CONCURRENCY,
        "repeat": args.repeat, "provision_seconds": round(provision_seconds, 1),
        "platform_seconds": round(platform_s, 3), "naive_seconds": round(naive_s, 3), "ratio": round(ratio, 2),
        "platform_runs": [round(t, 3) for t in times["platform"]], "naive_runs": [round(t, 3) for t in times["naive"]],
        "platform_status": dict(counts["platform"]), "naive_status": dict(counts["naive"]),
        "platform_by_type_s": by_type(checks, results["platform"]),
        "naive_by_type_s": by_type(checks, results["naive"]),
    }
    if profile is not None:
        result.update({k: dict(v) for k, v in profile.items()})
    if args.json:
        print(json.dumps(result))
    else:
        print(f"round of {args.teams} teams × {len(checks)} checks "
              f"({', '.join(f'{n} {k}' for k, n in kinds.items())}), concurrency {ROUND_CONCURRENCY}; "
              f"provisioned in {provision_seconds:.1f} s")
        for side in ("platform", "naive"):
            c = counts[side]
            print(f"  {side:8} up {c['up']}, down {c['down']}, error {c['error']}   "
                  f"runs {' '.join(f'{t:.2f}' for t in times[side])} s")
        print("  per check, median s (platform / naive): " + ", ".join(
            f"{k} {result['platform_by_type_s'][k]:.3f} / {result['naive_by_type_s'][k]:.3f}" for k in kinds))
        if profile is not None:
            print("  engine calls, one at a time (median ms):")
            for name, ms in profile["primitives_ms"].items():
                print(f"    {ms:7.1f}  {name}")
            for side in ("platform", "naive"):
                found = profile[f"{side}_requests"]
                print(f"  Docker API requests in one {side} round: {sum(found.values())}: " +
                      ", ".join(f"{n} {k}" for k, n in found.most_common()))
        print(f"rounds: platform {platform_s:.2f} s, naive {naive_s:.2f} s, ratio {ratio:.2f} (target <= {TARGET})")
    for side in ("platform", "naive"):
        explain_errors(side, checks, results[side][-1])
    expected = args.repeat * args.teams * len(checks)
    broken = counts["platform"]["up"] != expected or counts["naive"]["error"] > 0
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
