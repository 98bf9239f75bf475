"""Check types about accounts: account (present or removed) and password (does an old password still work?).

``/etc/passwd``, ``/etc/shadow`` and application password files are read by
the platform; hashes are checked with the Docker host's libcrypt
(``scoring.passwords``), never with ``getent``, ``perl``, ``python3`` or ``php``
of the range host.
"""
from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any, Literal

from pydantic import StringConstraints, model_validator
from pydantic.dataclasses import dataclass

from scoring import passwords
from scoring.checks.base import CheckResult, CheckType, register, text_of, verdict
from scoring.params import PARAMS_CONFIG, AbsolutePath, HostId, Password, UnixUser
from scoring.probe import MAX_FILE_BYTES, Probe, ProbeError

JsonKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]
UNIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")  # scoring.params.UnixUser


@register("account")
class AccountCheck(CheckType):
    summary = "A user account exists in (or is gone from) a host's /etc/passwd."

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        user: UnixUser
        expect: Literal["present", "absent"] = "present"

    @classmethod
    def run(cls, params: AccountCheck.Params, probe: Probe) -> CheckResult:
        passwd = probe.read_file(params.host, "/etc/passwd", MAX_FILE_BYTES)
        if passwd is None:
            raise ProbeError(f"{params.host} has no /etc/passwd")
        there = passwords.passwd_has(text_of(passwd), params.user)
        return verdict(there == (params.expect == "present"),
                       f"{params.user} {'has an account' if there else 'has no account'} on {params.host}")


@register("password")
class PasswordCheck(CheckType):
    summary = ("A password is accepted (or no longer accepted) for an account: from /etc/shadow (a removed, "
               "locked or expired account accepts none), or from an application's JSON password file.")

    @dataclass(config=PARAMS_CONFIG, kw_only=True)
    class Params:
        host: HostId
        user: JsonKey  # a Unix account name, or the application's user name with file
        password: Password
        expect: Literal["accepted", "rejected"] = "rejected"
        file: AbsolutePath | None = None  # an application's JSON file {user: hash}; else /etc/shadow
        json_key: JsonKey | None = None  # the key of the hash in that file, when it is not the user name

        @model_validator(mode="after")
        def _shadow_users_are_unix_users(self) -> Any:
            if self.file is None and self.json_key is not None:
                raise ValueError("json_key needs file (the JSON password file)")
            if self.file is None and not UNIX_USER.match(self.user):
                raise ValueError(f"user {self.user!r} is no Unix account name (without file, /etc/shadow is read)")
            return self

    @classmethod
    def run(cls, params: PasswordCheck.Params, probe: Probe) -> CheckResult:
        accepted, why = (_in_json(params, probe) if params.file is not None else _in_shadow(params, probe))
        where = f"{params.user} on {params.host}"
        return verdict(accepted == (params.expect == "accepted"),
                       f"the password {'is' if accepted else 'is not'} accepted for {where} ({why})")


def _in_shadow(params: PasswordCheck.Params, probe: Probe) -> tuple[bool, str]:
    passwd = probe.read_file(params.host, "/etc/passwd", MAX_FILE_BYTES)
    if passwd is None or not passwords.passwd_has(text_of(passwd), params.user):
        return False, "no such account"
    shadow = probe.read_file(params.host, "/etc/shadow", MAX_FILE_BYTES)
    entry = passwords.shadow_entry(text_of(shadow or b""), params.user)
    if entry is None:
        return False, "no shadow entry"
    if entry.hash[:1] in ("!", "*"):
        return False, "the account is locked"
    if entry.expired(time.time()):
        return False, "the account has expired"
    return _matches(params.password, entry.hash)


def _in_json(params: PasswordCheck.Params, probe: Probe) -> tuple[bool, str]:
    assert params.file is not None
    data = probe.read_file(params.host, params.file, MAX_FILE_BYTES)
    if data is None:
        return False, f"{params.file} is missing"
    try:
        users = json.loads(data)
    except (ValueError, RecursionError):  # nested too deep is no JSON the application reads either
        return False, f"{params.file} is not JSON, so the application accepts no one"
    stored = users.get(params.json_key or params.user) if isinstance(users, dict) else None
    if not isinstance(stored, str):
        return False, f"{params.file} has no hash for {params.json_key or params.user}"
    return _matches(params.password, stored)


def _matches(password: str, stored: str) -> tuple[bool, str]:
    try:
        return passwords.matches(password, stored), f"hash scheme {stored[:4]!r}"
    except passwords.PasswordSchemeError as exc:
        # Not "cannot decide": a hash no one can compute accepts no password on the host either, and an
        # ERROR would let a trainee escape an availability penalty by writing garbage into the hash.
        return False, f"no password can match it: {exc}"
