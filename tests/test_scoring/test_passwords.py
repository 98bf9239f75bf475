"""scoring.passwords against real hashes: this machine's libcrypt (via ctypes) and argon2-cffi.

The fixed vectors were made once with tools other than scoring.passwords
(``openssl passwd``, Perl's ``crypt``, the ``bcrypt`` package, argon2-cffi's low
level), so a broken ctypes binding fails here rather than agreeing with itself.
Fresh hashes are made per run the same way, with random salts.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import threading

import argon2
import pytest

from scoring.passwords import PasswordSchemeError, ShadowEntry, matches, passwd_has, shadow_entry

PASSWORD = "Minato2024!"
# scheme -> a hash of PASSWORD (known answers: computed once, pasted here).
VECTORS = {
    "yescrypt": "$y$j9T$h3KPj7LOhgKMopGAq6KSo/$bdQTgi/VoE53hbORbdhkpJQsM7941g4bh..Hcu0UtoD",
    "sha512crypt": "$6$mamoriKAT$6qF7J62xWwaNZkM7OuxeR2.EHk6VUubt/dhPeNx2HuizgvrfZXIT/GsS6KSVoypjPvLTTinQhOoRT8jRuj.47/",
    "sha256crypt": "$5$mamoriKAT$7Cg532CB76yLkLj7z1rwowbVgYF1lglYhVxGg4HAxg4",
    "md5crypt": "$1$mamoriKA$v1FkLtELR/bz22TI6qsT8/",
    "bcrypt-2b": "$2b$05$abcdefghijklmnopqrstuuwr2JrY20G2BcX8zOCWWvwUVTaYuR99e",
    "bcrypt-2y": "$2y$05$abcdefghijklmnopqrstuuwr2JrY20G2BcX8zOCWWvwUVTaYuR99e",  # PHP's password_hash
    "argon2id": "$argon2id$v=19$m=1024,t=2,p=1$bWFtb3JpLWthdC1zYWx0$rmJ1PpcOO9fjswJEM2t6zAJSF/1rATU3dN3tk7vK1WQ",
    "argon2i": "$argon2i$v=19$m=1024,t=2,p=1$bWFtb3JpLWthdC1zYWx0$e3M1dMewx1zSW8ViPSNXxCSvKNllQSMpb1aUGqizgDw",
}


@pytest.mark.parametrize("scheme", sorted(VECTORS))
def test_known_answer_vectors(scheme: str) -> None:
    stored = VECTORS[scheme]
    assert matches(PASSWORD, stored) is True
    assert matches("Minato2024?", stored) is False
    assert matches(PASSWORD[:-1], stored) is False
    assert matches("", stored) is False


def test_a_hash_that_differs_in_its_last_character_does_not_match() -> None:
    stored = VECTORS["yescrypt"]
    assert matches(PASSWORD, stored[:-1] + ("E" if stored[-1] != "E" else "F")) is False


def _gensalt(prefix: bytes) -> str:
    """A setting with a random salt, from libcrypt's crypt_gensalt_rn (the OS's randomness)."""
    function = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1").crypt_gensalt_rn
    function.restype = ctypes.c_char_p
    function.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_int]
    out = ctypes.create_string_buffer(256)
    setting = function(prefix, 0, None, 0, out, len(out))
    assert setting, f"libcrypt made no setting for {prefix!r}"
    return setting.decode()


def _perl_crypt(password: str, setting: str) -> str:
    """crypt(3) through Perl, not through scoring.passwords' binding."""
    out = subprocess.run(["perl", "-e", "print crypt($ARGV[0], $ARGV[1])", password, setting],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.startswith(setting[:4]) and len(out) > len(setting), out
    return out


@pytest.mark.parametrize("prefix", [b"$y$", b"$6$", b"$5$", b"$2b$", b"$2y$"])
def test_fresh_hashes_with_random_salts(prefix: bytes) -> None:
    password = "s3cret pass/Ünïcode"
    stored = _perl_crypt(password, _gensalt(prefix))
    assert matches(password, stored) is True
    assert matches("s3cret pass/Unicode", stored) is False


@pytest.mark.parametrize("flag", ["-6", "-5", "-1"])
def test_fresh_hashes_from_openssl(flag: str) -> None:
    stored = subprocess.run(["openssl", "passwd", flag, "correct horse"], capture_output=True, text=True,
                            timeout=30, check=True).stdout.strip()
    assert matches("correct horse", stored) is True
    assert matches("correct horse ", stored) is False


def test_argon2_as_php_writes_it() -> None:
    stored = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("パスワード")
    assert matches("パスワード", stored) is True
    assert matches("password", stored) is False


@pytest.mark.parametrize("stored", ["$9$abc$def", "$x$", "$argon2id$garbage",
                                    "$argon2id$v=19$m=1024,t=2,p=1$bWFtb3JpLWthdC1zYWx0$rmJ1"])
def test_a_scheme_nobody_here_computes_is_a_scheme_error(stored: str) -> None:
    with pytest.raises(PasswordSchemeError):
        matches(PASSWORD, stored)


@pytest.mark.parametrize("stored", ["", "!", "*", "!!", "!" + VECTORS["yescrypt"], "*" + VECTORS["sha512crypt"],
                                    "*LK*", "!" + VECTORS["argon2id"]])
def test_locks_and_empty_hashes_match_no_password(stored: str) -> None:
    assert matches(PASSWORD, stored) is False
    assert matches("", stored) is False


def test_many_threads_verifying_at_once_all_get_the_right_answer() -> None:
    cases = [(PASSWORD, stored, True) for stored in VECTORS.values()]
    cases += [("wrong", stored, False) for stored in VECTORS.values()]
    threads = 16
    start = threading.Barrier(threads)
    wrong: list[str] = []

    def verify(offset: int) -> None:
        start.wait()
        for round_ in range(3):
            for k in range(len(cases)):
                password, stored, expected = cases[(k + offset + round_) % len(cases)]
                if matches(password, stored) is not expected:
                    wrong.append(f"{password!r} vs {stored[:12]}…")

    workers = [threading.Thread(target=verify, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not any(w.is_alive() for w in workers)
    assert wrong == []


SHADOW = (
    "root:*:19000:0:99999:7:::\n"
    "staff:$y$j9T$abc$def:19000:0:99999:7:::\n"
    "old:!$6$x$y:19000:0:99999:7::1:\n"
    "short:$6$x$y\n"
    "# not a user:x\n"
)


def test_shadow_entries_and_expiry() -> None:
    assert shadow_entry(SHADOW, "staff") == ShadowEntry("staff", "$y$j9T$abc$def", None)
    old = shadow_entry(SHADOW, "old")
    assert old is not None and old.hash.startswith("!") and old.expires_day == 1
    assert old.expired(86400 * 2) and not old.expired(0.5)
    assert shadow_entry(SHADOW, "short") == ShadowEntry("short", "$6$x$y", None)
    assert shadow_entry(SHADOW, "sta") is None and shadow_entry(SHADOW, "nobody") is None
    assert not ShadowEntry("u", "h", None).expired(1e12)


def test_passwd_has_matches_whole_names_only() -> None:
    passwd = "root:x:0:0:root:/root:/bin/bash\nstaff:x:1000:1000::/home/staff:/bin/bash\n"
    assert passwd_has(passwd, "staff") and passwd_has(passwd, "root")
    assert not passwd_has(passwd, "staf") and not passwd_has(passwd, "x") and not passwd_has(passwd, "")
