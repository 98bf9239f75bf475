"""The engine's disk watchdog: a range container that fills the disk is paused and the instructor told.

overlay2 on ext4 (the usual Docker host) cannot bound a container's
writable layer, so a root trainee could fill the Docker host's disk and stop
every team's range. Every ``interval_seconds`` this watch measures each
running range container's writable layer from the Docker host
(``range.diskuse``); one that holds more than its limit — in bytes, or in
files — is paused (``docker pause``: processes and files kept) and recorded
in the audit log and on the exercise's timeline, which the live view lists.
It also warns when the Docker host's file system itself runs low.

After an instructor resumes such a container (``mamori host resume``, or
resuming the exercise's ranges) the watch allows it its use at that moment
plus one more limit, so the team can clean up; this allowance lives in the
engine process (a restarted engine holds the container to the plain limit).
Resetting the host recreates its layer empty.

It runs in a thread of its own (measuring never delays an inject) and a
failed pass is logged and reported, never raised: the engine goes on.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import select

from app.db import Database
from app.models import Exercise, ExerciseState, utcnow
from app.services import disk
from app.settings import Settings
from range import labels
from range.diskuse import FilesystemSpace, LayerUsage, filesystem_space, measure_layers
from range.engine import DockerRangeEngine
from range.errors import RangeError

log = logging.getLogger("mamori.diskwatch")
MB = 1024 * 1024
RECOVERED = 1.2  # free space must come back above the minimum × this before a new warning
LOW_INODES = 0.05  # warn too when less than this share of the host's inodes is free
WARNED_STATES = (ExerciseState.RUNNING, ExerciseState.PAUSED, ExerciseState.READY, ExerciseState.DAY_ENDED)


@dataclass(frozen=True)
class DiskLimits:
    layer_bytes: int = 512 * MB  # 0: no watch at all
    layer_files: int = 200_000
    interval_seconds: float = 30.0
    host_min_free_bytes: int = 2048 * MB
    seconds_each: float = 2.0  # the longest walk of one container's layer

    @classmethod
    def from_settings(cls, settings: Settings) -> "DiskLimits":
        return cls(layer_bytes=settings.range_disk_limit_mb * MB, layer_files=settings.range_disk_limit_files,
                   interval_seconds=float(settings.disk_watch_seconds),
                   host_min_free_bytes=settings.host_disk_min_free_mb * MB)


@dataclass(frozen=True)
class Finding:
    container_id: str
    exercise: str
    team: str
    host: str
    usage: LayerUsage
    action: str  # paused, unmeasured, failed (could not pause), allowed (resumed by an instructor)
    reason: str = ""


@dataclass(frozen=True)
class WatchReport:
    """What one pass saw and did; ``errors`` holds what went wrong instead of raising."""

    measured: int = 0
    seconds: float = 0.0
    findings: tuple[Finding, ...] = ()
    space: FilesystemSpace | None = None
    low_space: bool = False
    errors: tuple[str, ...] = ()
    usages: dict[str, LayerUsage] = field(default_factory=dict)

    def paused(self) -> list[Finding]:
        return [f for f in self.findings if f.action == "paused"]


class DiskWatch:
    def __init__(self, database: Database, range_engine: DockerRangeEngine, instance_id: str,
                 limits: DiskLimits | None = None, *, now: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.ranges = range_engine
        self.instance_id = instance_id
        self.limits = limits or DiskLimits()
        self.now = now
        self._upper_dirs: dict[str, str | None] = {}
        self._paused: set[str] = set()  # containers this watch paused
        self._allowance: dict[str, int] = {}  # bytes allowed to a container an instructor resumed
        self._noted: set[str] = set()  # containers whose layer could not be measured, already recorded
        self._low_space = False
        self._root_dir: str | None = None

    def start(self, stop: threading.Event, holding: threading.Event) -> threading.Thread:
        """Watch every ``interval_seconds`` while *holding* (the engine's lease) is set, until *stop*."""
        thread = threading.Thread(target=self._loop, args=(stop, holding), name="disk-watch", daemon=True)
        thread.start()
        return thread

    def _loop(self, stop: threading.Event, holding: threading.Event) -> None:
        if self.limits.layer_bytes <= 0:
            return
        while not stop.wait(self.limits.interval_seconds):
            if holding.is_set():
                report = self.run_once()
                log.debug("disk watch: %d layer(s) in %.2f s", report.measured, report.seconds)

    def run_once(self) -> WatchReport:
        """One pass over every running range container of this installation; never raises."""
        started = time.monotonic()
        try:
            report = self._pass()
        except Exception as exc:  # the Docker Engine or the database failing must not stop the engine
            log.exception("the disk watch pass failed")
            report = WatchReport(errors=(f"{type(exc).__name__}: {exc}",))
        return WatchReport(report.measured, time.monotonic() - started, report.findings, report.space,
                           report.low_space, report.errors, report.usages)

    def _pass(self) -> WatchReport:
        backend = self.ranges.backend
        mine = [c for c in backend.containers(labels.filters(), inspect=False)
                if c.labels.get(labels.EXERCISE, "").startswith(f"{self.instance_id}-")]
        listed = {c.id for c in mine}
        for cache in (self._upper_dirs, self._allowance):
            for gone in set(cache) - listed:
                cache.pop(gone)
        self._paused &= listed
        self._noted &= listed
        running = [c for c in mine if c.status == "running"]
        usages = {u.container_id: u for u in measure_layers(
            backend, [c.id for c in running], labels.filters(), seconds_each=self.limits.seconds_each,
            max_entries=self.limits.layer_files, upper_dirs=self._upper_dirs)}
        findings, errors = [], []
        for container in running:
            usage = usages.get(container.id)
            if usage is None:
                continue
            finding = self._judge(container.id, container.labels, usage)
            if finding is not None:
                findings.append(finding)
        if findings:
            self._record(findings)
        space, low = self._check_space(errors, {c.labels.get(labels.EXERCISE, "") for c in mine})
        return WatchReport(len(usages), 0.0, tuple(findings), space, low, tuple(errors), usages)

    def _judge(self, container_id: str, tags: dict[str, str], usage: LayerUsage) -> Finding | None:
        """Pause the container if it is over its limit; say what was done, or ``None`` when all is well."""
        where = (tags.get(labels.EXERCISE, ""), tags.get(labels.TEAM, ""), tags.get(labels.HOST, ""))
        if container_id in self._paused:  # paused by this watch and running again: someone resumed it
            self._paused.discard(container_id)
            self._allowance[container_id] = usage.bytes + self.limits.layer_bytes
            log.info("disk watch: %s/%s/%s resumed at %d MB; allowed up to %d MB", *where, usage.bytes // MB,
                     self._allowance[container_id] // MB)
            return None
        allowed = max(self._allowance.get(container_id, 0), self.limits.layer_bytes)
        too_many = usage.entries > self.limits.layer_files
        if usage.bytes <= allowed and not too_many:
            if usage.complete or container_id in self._noted:
                return None
            self._noted.add(container_id)
            return Finding(container_id, *where, usage, "unmeasured", usage.reason)
        reason = (f"more than {self.limits.layer_files} files" if too_many
                  else f"{usage.bytes // MB} MB written, limit {allowed // MB} MB")
        try:
            self.ranges.backend.pause(container_id)
        except RangeError as exc:
            return Finding(container_id, *where, usage, "failed", f"{reason}; pausing failed: {exc}")
        self._paused.add(container_id)
        self._allowance.pop(container_id, None)
        log.warning("disk watch: paused %s/%s/%s (%s)", *where, reason)
        return Finding(container_id, *where, usage, "paused", reason)

    def _record(self, findings: list[Finding]) -> None:
        events = {"paused": disk.PAUSED, "failed": disk.PAUSE_FAILED, "unmeasured": disk.UNMEASURED}
        with self.database.transaction() as session:
            for finding in findings:
                exercise = disk.exercise_of(session, self.instance_id, finding.exercise)
                if exercise is None:
                    continue
                disk.record(session, exercise, disk.team_of(session, exercise, finding.team),
                            events[finding.action], host=finding.host, used_bytes=finding.usage.bytes,
                            limit_bytes=max(self._allowance.get(finding.container_id, 0), self.limits.layer_bytes),
                            reason=finding.reason, container=finding.container_id, now=self.now())

    def _check_space(self, errors: list[str], exercise_labels: set[str]) -> tuple[FilesystemSpace | None, bool]:
        """Warn each exercise with ranges here once when the Docker host's disk runs low; again after it recovered."""
        try:
            self._root_dir = self._root_dir or self.ranges.backend.root_dir()
            space = filesystem_space(self._root_dir)
        except (RangeError, OSError) as exc:  # e.g. a remote engine: its disk is not this machine's
            errors.append(f"free space of the Docker host not read: {exc}")
            return None, False
        minimum = self.limits.host_min_free_bytes
        low_inodes = space.total_inodes > 0 and space.free_inodes < space.total_inodes * LOW_INODES
        low = space.free_bytes < minimum or low_inodes
        if low and not self._low_space:
            reason = (f"{space.free_inodes} of {space.total_inodes} inodes free" if low_inodes
                      else f"{space.free_bytes // MB} MB free of {space.total_bytes // MB} MB")
            with self.database.transaction() as session:
                for exercise in session.scalars(select(Exercise).where(Exercise.state.in_(WARNED_STATES))):
                    if f"{self.instance_id}-{exercise.id}" in exercise_labels:
                        disk.record(session, exercise, None, disk.LOW_SPACE, host="", used_bytes=space.free_bytes,
                                    limit_bytes=minimum, reason=reason, now=self.now())
            log.warning("disk watch: the Docker host's disk is low (%s in %s)", reason, space.path)
            self._low_space = True
        elif self._low_space and space.free_bytes > minimum * RECOVERED and not low_inodes:
            self._low_space = False
        return space, low
