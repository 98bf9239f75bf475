"""Does a password match a stored hash? Decided by the Docker host's own libcrypt, never inside a range.

A range host's ``/etc/shadow`` (or an application's password file) is read by
the platform; the hash is checked here with ``crypt_rn`` from libxcrypt, the
library PAM and ``login`` use, so every scheme a Debian host writes — yescrypt
(``$y$``, Debian's default), SHA-512/256-crypt (``$6$``/``$5$``), bcrypt as PHP's
``password_hash`` writes it (``$2y$``) — is understood without a program of the
range's being run; PHP's argon2 hashes (``$argon2id$``) are checked by argon2-cffi.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hmac
from dataclasses import dataclass

import argon2

_CRYPT_DATA_SIZE = 65536  # at least libxcrypt's sizeof(struct crypt_data) (32768); crypt_rn checks it


class PasswordSchemeError(Exception):
    """The stored hash is of a scheme this machine's libcrypt does not know (or no libcrypt is installed)."""


@functools.lru_cache(maxsize=1)
def _crypt_rn() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    try:
        function = ctypes.CDLL(name, use_errno=True).crypt_rn
    except (OSError, AttributeError) as exc:
        raise PasswordSchemeError(f"libcrypt (crypt_rn) cannot be loaded: {exc}") from None
    function.restype = ctypes.c_char_p
    function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    return function


def matches(password: str, stored_hash: str) -> bool:
    """Does *password* hash to *stored_hash* (a crypt(3) string)?

    ``False`` for a hash no password can match (empty, ``!``/``*`` locks);
    ``PasswordSchemeError`` for a scheme libcrypt cannot compute.
    """
    if not stored_hash or stored_hash[0] in "!*":
        return False
    if stored_hash.startswith("$argon2"):  # PHP's PASSWORD_ARGON2I/ID: not a crypt(3) scheme
        try:
            return argon2.PasswordHasher().verify(stored_hash, password)
        except argon2.exceptions.VerifyMismatchError:
            return False
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):  # undecodable
            raise PasswordSchemeError(f"{stored_hash[:10]!r}… is no argon2 hash argon2-cffi reads") from None
    data = ctypes.create_string_buffer(_CRYPT_DATA_SIZE)  # zeroed, one per call: thread-safe
    result = _crypt_rn()(password.encode("utf-8"), stored_hash.encode("utf-8", errors="surrogateescape"),
                         data, _CRYPT_DATA_SIZE)
    if result is None or result.startswith(b"*"):
        raise PasswordSchemeError(f"libcrypt does not know the hash scheme of {stored_hash[:4]!r}…")
    return hmac.compare_digest(result, stored_hash.encode("utf-8", errors="surrogateescape"))


@dataclass(frozen=True)
class ShadowEntry:
    """One line of ``/etc/shadow``: the hash and the account's expiry (days since 1970-01-01, or None)."""

    user: str
    hash: str
    expires_day: int | None

    def expired(self, now: float) -> bool:
        """Has the account expired by *now* (seconds since the epoch; the range shares this host's clock)?"""
        return self.expires_day is not None and self.expires_day * 86400 < now


def shadow_entry(shadow: str, user: str) -> ShadowEntry | None:
    """*user*'s line of a shadow file's text, or ``None`` when it has none."""
    for line in shadow.splitlines():
        fields = line.split(":")
        if len(fields) < 2 or fields[0] != user:
            continue
        expiry = fields[7].strip() if len(fields) > 7 else ""
        return ShadowEntry(user, fields[1], int(expiry) if expiry.isdigit() else None)
    return None


def passwd_has(passwd: str, user: str) -> bool:
    """Does a passwd file's text have an entry for *user*?"""
    return any(line.split(":", 1)[0] == user for line in passwd.splitlines() if ":" in line)
