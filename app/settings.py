"""Settings: one frozen object built from the environment when the app is created.

Nothing here runs at import time; ``Settings.from_env()`` is called by the
application factory and by the CLI, so every gunicorn worker reads the same
instance files (notably the secret key) instead of inventing its own.
"""
from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigurationError(Exception):
    """A setting is missing or wrong; the message says which and what to do."""


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    secret_key: str
    docker_host: str | None = None
    range_bind_address: str = "127.0.0.1"
    range_pool: str = "10.160.0.0/12"
    provision_concurrency: int = 4
    gateway_ports: tuple[int, int] = (42000, 42999)
    instance_id: str = "mamori"
    display_timezone: str = "Asia/Tokyo"
    default_locale: str = "ja"
    secure_cookies: bool = False
    trusted_proxies: int = 0
    scenarios_dir: Path = PROJECT_ROOT / "scenarios"
    login_failure_limit: int = 5
    login_failure_window_seconds: int = 900
    login_address_failure_limit: int = 300  # a venue NAT: 100 trainees × 3 mistyped slips (login_throttle)
    range_log_max_size: str = "5m"  # Docker's log rotation of every range container...
    range_log_max_files: int = 2  # ...so each keeps at most max_files × max_size of log
    range_disk_limit_mb: int = 512  # a container's writable layer; 0 turns the disk watchdog off
    range_disk_limit_files: int = 200_000
    disk_watch_seconds: int = 30
    host_disk_min_free_mb: int = 2048  # below this the instructor is warned
    request_read_seconds: int = 10  # a request's head (and small body) must arrive within this (mamori serve)
    public_url: str | None = None  # where trainees reach the platform (slips print it); None: the request's host
    testing: bool = False
    extra: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        instance_path: Path | None = None,
        **overrides: object,
    ) -> "Settings":
        env = os.environ if environ is None else environ
        instance = Path(
            instance_path or env.get("MAMORI_INSTANCE_PATH") or PROJECT_ROOT / "instance"
        ).resolve()
        if not instance.exists():
            # The folder holds the SQLite database and the secret key: owner only.
            instance.mkdir(parents=True, mode=0o700)
        tz = env.get("TZ") or "Asia/Tokyo"
        try:
            ZoneInfo(tz.lstrip(":"))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"TZ={tz!r} is not a known time zone (try Asia/Tokyo)")
        values: dict[str, object] = dict(
            instance_path=instance,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{instance / 'mamori.sqlite3'}",
            secret_key=env.get("SECRET_KEY") or load_or_create_secret(instance / "secret_key"),
            docker_host=env.get("DOCKER_HOST") or None,
            range_bind_address=env.get("MAMORI_RANGE_BIND_ADDRESS") or "127.0.0.1",
            range_pool=_subnet(env.get("MAMORI_RANGE_POOL") or "10.160.0.0/12"),
            provision_concurrency=_positive(env.get("MAMORI_PROVISION_CONCURRENCY") or "4",
                                            "MAMORI_PROVISION_CONCURRENCY"),
            gateway_ports=_port_range(env.get("MAMORI_GATEWAY_PORTS") or "42000-42999"),
            instance_id=env.get("MAMORI_INSTANCE_ID") or load_or_create_instance_id(instance / "instance_id"),
            display_timezone=tz.lstrip(":"),
            secure_cookies=_flag(env.get("MAMORI_SECURE_COOKIES")),
            trusted_proxies=_count(env.get("MAMORI_TRUSTED_PROXIES") or "0", "MAMORI_TRUSTED_PROXIES"),
            scenarios_dir=Path(env.get("MAMORI_SCENARIOS_DIR") or PROJECT_ROOT / "scenarios"),
            request_read_seconds=_whole(env, "MAMORI_REQUEST_READ_SECONDS", 10, 2, 300),
            public_url=_public_url(env.get("MAMORI_PUBLIC_URL") or ""),
            **_disk_settings(env),
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _disk_settings(env: Mapping[str, str]) -> dict[str, object]:
    size = (env.get("MAMORI_RANGE_LOG_MAX_SIZE") or "5m").strip().lower()
    if not re.fullmatch(r"[1-9][0-9]{0,5}[kmg]", size):
        raise ConfigurationError(f"MAMORI_RANGE_LOG_MAX_SIZE={size!r} must look like 5m, 512k or 1g")
    return dict(
        range_log_max_size=size,
        range_log_max_files=_whole(env, "MAMORI_RANGE_LOG_MAX_FILES", 2, 1, 20),
        range_disk_limit_mb=_whole(env, "MAMORI_RANGE_DISK_LIMIT_MB", 512, 0, 10_000_000),
        range_disk_limit_files=_whole(env, "MAMORI_RANGE_DISK_LIMIT_FILES", 200_000, 1000, 100_000_000),
        disk_watch_seconds=_whole(env, "MAMORI_DISK_WATCH_SECONDS", 30, 5, 3600),
        host_disk_min_free_mb=_whole(env, "MAMORI_HOST_DISK_MIN_FREE_MB", 2048, 0, 100_000_000),
    )


def _public_url(value: str) -> str | None:
    """``MAMORI_PUBLIC_URL``: the platform's root as trainees reach it, e.g. ``https://mamori.example.lg.jp``."""
    value = value.strip()
    if not value:
        return None
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018  (raises on a port out of range)
    except ValueError:
        parts = parts._replace(netloc="")
    if (parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment
            or parts.username or parts.password or any(ch.isspace() or ch in "\\<>\"" for ch in value)):
        raise ConfigurationError(f"MAMORI_PUBLIC_URL={value!r} must look like https://mamori.example.lg.jp "
                                 "(http or https, a host, an optional path; no query, no login)")
    return value.rstrip("/")


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = (env.get(name) or str(default)).strip()
    if not value.isdigit() or not low <= int(value) <= high:
        raise ConfigurationError(f"{name}={value!r} must be a whole number from {low} to {high}")
    return int(value)


def _subnet(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError:
        raise ConfigurationError(f"MAMORI_RANGE_POOL={value!r} is not an IPv4 network like 10.160.0.0/12")
    if network.prefixlen > 22:
        raise ConfigurationError(f"MAMORI_RANGE_POOL={value!r} is too small: use a /22 or larger")
    return str(network)


def _port_range(value: str) -> tuple[int, int]:
    low, _, high = value.partition("-")
    if not (low.isdigit() and high.isdigit() and 1024 <= int(low) <= int(high) <= 65535):
        raise ConfigurationError(f"MAMORI_GATEWAY_PORTS={value!r} must look like 42000-42999 (ports ≥ 1024)")
    return int(low), int(high)


def _count(value: str, name: str) -> int:
    if not value.isdigit() or int(value) > 5:
        raise ConfigurationError(f"{name}={value!r} must be a whole number from 0 to 5")
    return int(value)


def _positive(value: str, name: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise ConfigurationError(f"{name}={value!r} must be a whole number from 1 to 64")
    return int(value)


def load_or_create_instance_id(path: Path) -> str:
    """A short id naming this installation's ranges on a shared Docker Engine."""
    if not path.exists():
        try:
            with open(path, "x", encoding="ascii") as handle:
                handle.write(secrets.token_hex(3) + "\n")
        except FileExistsError:
            pass
    value = path.read_text(encoding="ascii").strip()
    if not value.isalnum():
        raise ConfigurationError(f"{path} must hold letters and digits only; delete it to make a new one")
    return value


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def load_or_create_secret(path: Path) -> str:
    """Return the secret kept in *path*, creating it once.

    The secret is written to a private temporary file and hard-linked into
    place, so concurrent workers either win the link or read a complete file.
    """
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    secret = path.read_text(encoding="ascii").strip()
    if not secret:
        raise ConfigurationError(f"{path} is empty; delete it to generate a new secret key")
    return secret
