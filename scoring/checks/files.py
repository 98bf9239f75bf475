"""Check types that read a host's files and process table from outside it: file, search, hashes, crontab, process.

The probe reads them from the Docker host (never through the host's own
``cat``, ``grep``, ``ps`` or ``sha256sum``), so a trainee who replaces those
programs, preloads a library or aliases them changes no verdict.
"""
from __future__ import annotations

import fnmatch
import hashlib
import posixpath
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints
from pydantic.dataclasses import dataclass

from scoring.checks.base import CheckResult, CheckType, content_problem, register, search, text_of, verdict
from scoring.params import PARAMS_CONFIG, AbsolutePath, HostId, Regex, Sha256, UnixUser
from scoring.probe import MAX_FILE_BYTES, MAX_TREE_ENTRIES, Probe



def _relative(path: str) -> str:
    if path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"{path!r} must be relative to path, without '..'")
    return path


RelativePath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$"),
                         AfterValidator(_relative)]
NameGlob = Annotated[str, StringConstraints(pattern=r"^[^/\x00]+$", max_length=255)]
CRON_FILES = ("/etc/crontab",)
CRON_DIRECTORIES = ("/etc/cron.d", "/var/spool/cron/crontabs")
# Debian's cron reads only files of /etc/cron.d named like run-parts wants (a renamed "x.disabled" is off);
# there (not in the spool) it also runs a root-owned file through a symbolic link, so links count.
CRON_D_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@register("file")
class FileCheck(CheckType):
    summary = ("A file exists or not, has a hash, or contains (or no longer contains) a pattern — read by the "
               "platform itself, never through the range host's own programs.")

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        path: AbsolutePath
        expect: Literal["present", "absent"] = "present"
        sha256: Sha256 | None = None
        contains: Regex | None = None
        not_contains: Regex | None = None
        missing_ok: bool = False  # an absent file passes (e.g. "no attacker key in authorized_keys")

    @classmethod
    def run(cls, params: FileCheck.Params, probe: Probe) -> CheckResult:
        where = f"{params.path} on {params.host}"
        data = probe.read_file(params.host, params.path, MAX_FILE_BYTES + 1)  # one more: is it bigger?
        if data is None and params.missing_ok and params.expect == "present":
            return CheckResult("up", f"{where} is absent, which is fine")
        if data is None or params.expect == "absent":
            return verdict((data is None) == (params.expect == "absent"),
                           f"{where} {'is absent' if data is None else 'exists'}")
        if params.sha256 is not None and len(data) > MAX_FILE_BYTES:
            return CheckResult("error", f"{where} is larger than {MAX_FILE_BYTES // 1024} KiB, too large to hash")
        digest = hashlib.sha256(data).hexdigest()
        if params.sha256 is not None and digest != params.sha256:
            return CheckResult("down", f"{where} has sha256 {digest[:16]}…, expected {params.sha256[:16]}…")
        problem = content_problem(text_of(data[:MAX_FILE_BYTES]), params.contains, params.not_contains, where)
        return CheckResult("down" if problem else "up", problem or f"{where} is present as expected")


@register("search")
class SearchCheck(CheckType):
    summary = ("No file (or some file) below a directory has a matching name and/or content — e.g. no web shell "
               "left in the web root, no ransom note left on the share. A link to a file counts as that file; "
               "directories are never entered through a link.")

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        path: AbsolutePath
        names: list[NameGlob] = Field(default_factory=list, max_length=50)  # globs on the file's name
        contains: Regex | None = None
        expect: Literal["absent", "present"] = "absent"
        max_files: int = Field(default=2000, ge=1, le=MAX_TREE_ENTRIES)

    @classmethod
    def run(cls, params: SearchCheck.Params, probe: Probe) -> CheckResult:
        where = f"{params.path} on {params.host}"
        entries = probe.list_tree(params.host, params.path, params.max_files)
        found = None
        for entry in entries or []:
            name = posixpath.basename(entry.path)
            if entry.kind not in ("file", "link") or (
                    params.names and not any(fnmatch.fnmatchcase(name, g) for g in params.names)):
                continue
            if params.contains is not None or entry.kind == "link":
                # a link counts as the file it leads to inside the host (as sshd or Apache would read it)
                data = probe.read_file(params.host, posixpath.join(params.path, entry.path), MAX_FILE_BYTES)
                if data is None or (params.contains is not None and search(params.contains, text_of(data)) is None):
                    continue
            found = entry.path
            break
        what = " ".join(filter(None, [
            f"named {' or '.join(params.names)}" if params.names else "",
            f"containing {params.contains!r}" if params.contains is not None else ""])) or "at all"
        if entries is None:
            return verdict(params.expect == "absent", f"{where} is no directory, so no file {what} is in it")
        return verdict((found is None) == (params.expect == "absent"),
                       f"{where}: {found!r} is a file {what}" if found else
                       f"{where}: no file {what} among {len(entries)} entries")


@register("hashes")
class HashesCheck(CheckType):
    summary = "Each of a list of files below a directory is present with its expected SHA-256 (e.g. data restored intact)."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        path: AbsolutePath
        files: dict[RelativePath, Sha256] = Field(min_length=1, max_length=500)

    @classmethod
    def run(cls, params: HashesCheck.Params, probe: Probe) -> CheckResult:
        for name, expected in params.files.items():
            data = probe.read_file(params.host, posixpath.join(params.path, name), MAX_FILE_BYTES + 1)
            if data is None:
                return CheckResult("down", f"{name} is missing from {params.path} on {params.host}")
            if len(data) > MAX_FILE_BYTES:
                return CheckResult("error", f"{name} is larger than {MAX_FILE_BYTES // 1024} KiB, too large to hash")
            if hashlib.sha256(data).hexdigest() != expected:
                return CheckResult("down", f"{name} on {params.host} is not the original (sha256 differs)")
        return CheckResult("up", f"all {len(params.files)} files below {params.path} on {params.host} are intact")


@register("crontab")
class CrontabCheck(CheckType):
    summary = ("No cron job (or some cron job) matches a pattern, in /etc/crontab, /etc/cron.d and the users' "
               "crontabs (one user's only, when given); commented-out lines do not count.")

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        pattern: Regex
        user: UnixUser | None = None
        expect: Literal["absent", "present"] = "absent"

    @classmethod
    def run(cls, params: CrontabCheck.Params, probe: Probe) -> CheckResult:
        for path in _cron_files(probe, params.host, params.user):
            data = probe.read_file(params.host, path, MAX_FILE_BYTES)
            for line in text_of(data or b"").splitlines():
                if line.strip() and not line.lstrip().startswith("#") and search(params.pattern, line):
                    return verdict(params.expect == "present",
                                   f"{path} on {params.host} has a job matching {params.pattern!r}: {line.strip()[:100]!r}")
        whose = f"{params.user}'s crontab" if params.user else "any crontab"
        return verdict(params.expect == "absent", f"no job in {whose} on {params.host} matches {params.pattern!r}")


def _cron_files(probe: Probe, host: str, user: str | None) -> list[str]:
    if user is not None:
        return [f"/var/spool/cron/crontabs/{user}"]
    files = list(CRON_FILES)
    for directory in CRON_DIRECTORIES:
        system = directory == "/etc/cron.d"
        for entry in probe.list_tree(host, directory, MAX_TREE_ENTRIES) or []:
            if entry.kind in (("file", "link") if system else ("file",)) and "/" not in entry.path and (
                    not system or CRON_D_NAME.match(entry.path)):
                files.append(posixpath.join(directory, entry.path))
    return files


@register("process")
class ProcessCheck(CheckType):
    summary = "A process whose command line matches a pattern is present or absent (read from the container's process table, not from ps)."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        pattern: Regex
        expect: Literal["present", "absent"] = "present"

    @classmethod
    def run(cls, params: ProcessCheck.Params, probe: Probe) -> CheckResult:
        found = next((p for p in probe.processes(params.host) if search(params.pattern, p.command)), None)
        return verdict((found is not None) == (params.expect == "present"),
                       f"no process of {params.host} matches {params.pattern!r}" if found is None else
                       f"{params.host} runs pid {found.pid} as {found.user}: {found.command[:120]!r}")

