"""What each range image offers, read from the built images themselves.

``describe_image`` starts a short-lived, labelled container of the image that only
sleeps (no network, none of the image's start-up), reads its Debian packages,
accounts, start-up scripts, language modules and commands, and removes it; the
ports come from the image's ``EXPOSE``. The committed catalogue
(``range/images/catalogue.json``) is what ``mamori images describe --write``
read; ``accounts`` and ``commands`` answer from it without Docker.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from range.docker_backend import DockerBackend, DockerFailure
from range.errors import RangeError
from range.images import IMAGES_DIR, image_tag

CATALOGUE_PATH = IMAGES_DIR / "catalogue.json"
PROBE_LABEL = "org.mamori.catalogue"  # on the probe containers, to find leftovers
NO_LOGIN_SHELLS = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", "/bin/sync")
# The commands an author may want to use in a scenario (checks, injects, files) or a
# trainee in the range; the catalogue says which of them each image has.
COMMANDS = (
    "sh bash python3 php perl sqlite3 mariadb mysql psql curl wget nc nmap ssh scp sshpass "
    "rsync smbclient dig nslookup host mutt s-nail mail sendmail postfix doveadm "
    "mariadbd apache2 smbd dnsmasq rsyslogd logger cron crontab iptables ip ping ss ps "
    "pgrep pkill tcpdump openssl zip unzip tar gzip base64 xxd sudo vi vim.tiny less hydra gcc"
).split()
PYTHON_MODULES = (
    "sqlite3 venv ssl ctypes hashlib zlib bz2 lzma json urllib http smtplib imaplib "
    "readline curses ensurepip pip yaml requests"
).split()

PROBE_SCRIPT = r"""
echo @@packages
dpkg-query -W -f '${db:Status-Abbrev}\t${Package}\t${Version}\n' | awk -F '\t' '$1 ~ /^ii/ {print $2 "\t" $3}'
echo @@manual
apt-mark showmanual 2>/dev/null
echo @@passwd
cat /etc/passwd
echo @@group
cut -d: -f1 /etc/group
echo @@owners
find / -xdev -printf '%u\n' 2>/dev/null | sort -u
echo @@startd
ls -1 /etc/mamori/start.d 2>/dev/null
echo @@commands
for c in $COMMANDS; do command -v "$c" >/dev/null 2>&1 && echo "$c"; done
echo @@php
command -v php >/dev/null && php -r 'echo PHP_VERSION, "\n";' && php -m | grep -v '^\[' | grep .
echo @@python
command -v python3 >/dev/null && python3 - $PYTHON_MODULES <<'EOF'
import importlib, sys
print("%d.%d.%d" % sys.version_info[:3])
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        continue
    print(name)
EOF
echo @@perl
command -v perl >/dev/null && perl -e 'printf "%vd\n", $^V'
echo @@end
"""


class CatalogueError(RangeError):
    """An image could not be read, or the committed catalogue is missing or unreadable."""


class UnknownImage(CatalogueError, LookupError):
    """The catalogue has no image of that name."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    manual: bool  # installed on purpose (mmdebstrap --include or a Dockerfile), not as a dependency


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    home: str
    shell: str
    login: bool  # has a login shell
    owns_files: bool  # owns at least one file in the image


@dataclass(frozen=True)
class ImageDescription:
    """One image as the catalogue records it; every list is sorted, so equal images compare equal."""

    name: str
    summary: str
    command: tuple[str, ...]
    ports: tuple[str, ...]  # "80/tcp", from the image's EXPOSE
    start_scripts: tuple[str, ...]  # the names in /etc/mamori/start.d, in the order they run
    packages: tuple[Package, ...]
    accounts: tuple[Account, ...]
    groups: tuple[str, ...]
    commands: tuple[str, ...]
    php: str | None  # PHP's version, None without PHP
    php_modules: tuple[str, ...]
    python: str | None
    python_modules: tuple[str, ...]
    perl: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageDescription:
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}
        values["packages"] = tuple(Package(**p) for p in data["packages"])
        values["accounts"] = tuple(Account(**a) for a in data["accounts"])
        return cls(**values)


def describe_image(backend: DockerBackend, name: str) -> ImageDescription:
    """Read image *name* (at its current content tag, which must be built)."""
    tag = image_tag(name)
    config = backend.image_config(tag)
    probe = backend.start_probe(tag, {PROBE_LABEL: name})
    try:
        result = backend.exec(
            probe, ["sh", "-c", PROBE_SCRIPT], timeout=120, max_output=4 * 1024 * 1024,
            environment={"COMMANDS": " ".join(COMMANDS), "PYTHON_MODULES": " ".join(PYTHON_MODULES)},
        )
    finally:
        backend.remove_container(probe)
    text = result.output.decode("utf-8", "replace") if isinstance(result.output, bytes) else str(result.output)
    sections = parse_sections(text)
    if result.exit_code != 0 or "end" not in sections:
        raise DockerFailure(f"reading image {tag} failed (exit {result.exit_code}): {text[-400:]}")
    return from_sections(name, summary(name), config, sections)


def parse_sections(output: str) -> dict[str, list[str]]:
    """Split the probe's output at its ``@@name`` lines."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("@@"):
            current = sections.setdefault(line[2:].strip(), [])
        elif current is not None and line.strip():
            current.append(line.rstrip())
    return sections


def from_sections(name: str, text: str, config: dict[str, Any], sections: dict[str, list[str]]) -> ImageDescription:
    manual = set(sections.get("manual", []))
    packages = []
    for line in sections.get("packages", []):
        package, _, version = line.partition("\t")
        packages.append(Package(package.split(":")[0], version, package.split(":")[0] in manual))
    php, python = sections.get("php", []), sections.get("python", [])
    perl = sections.get("perl", [])
    return ImageDescription(
        name=name, summary=text, command=tuple(config.get("Cmd") or ()),
        ports=tuple(sorted(config.get("ExposedPorts") or {}, key=_port_order)),
        start_scripts=tuple(sorted(sections.get("startd", []))),
        packages=tuple(sorted(packages, key=lambda p: p.name)),
        accounts=_accounts(sections.get("passwd", []), set(sections.get("owners", []))),
        groups=tuple(sorted(set(sections.get("group", [])))),
        commands=tuple(sorted(set(sections.get("commands", [])))),
        php=php[0] if php else None, php_modules=tuple(sorted(set(php[1:]), key=str.lower)),
        python=python[0] if python else None, python_modules=tuple(sorted(set(python[1:]))),
        perl=perl[0] if perl else None,
    )


def _accounts(passwd: list[str], owners: set[str]) -> tuple[Account, ...]:
    accounts = []
    for line in passwd:
        fields = line.split(":")
        if len(fields) < 7:
            continue
        name, uid, home, shell = fields[0], int(fields[2]), fields[5], fields[6]
        accounts.append(Account(name, uid, home, shell, shell not in NO_LOGIN_SHELLS, name in owners))
    return tuple(sorted(accounts, key=lambda a: (a.uid, a.name)))


def _port_order(port: str) -> tuple[int, str]:
    number, _, protocol = port.partition("/")
    return int(number), protocol


def summary(name: str) -> str:
    """The role's Dockerfile header comment (what the image is for), as one paragraph."""
    dockerfile = IMAGES_DIR / name / "Dockerfile"
    lines = []
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(part for part in lines if part)
    text = text.split(": ", 1)[1] if text.startswith("Mamori") and ": " in text else text
    return text[:1].upper() + text[1:]


def dumps(descriptions: list[ImageDescription]) -> str:
    """The catalogue file's text: one object per image, by name, stable for diffs."""
    lines = ["{"]
    ordered = sorted(descriptions, key=lambda d: d.name)
    for i, description in enumerate(ordered):
        fields = list(description.to_json().items())
        lines.append(f" {json.dumps(description.name)}: {{")
        for j, (key, value) in enumerate(fields):
            lines.append(f"  {json.dumps(key)}: {_one_per_line(value)}" + ("," if j < len(fields) - 1 else ""))
        lines.append(" }" + ("," if i < len(ordered) - 1 else ""))
    return "\n".join(lines + ["}"]) + "\n"


def _one_per_line(value: Any) -> str:
    """A list with one compact item per line (a package, an account), anything else compact."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], dict):
        items = ",\n".join("   " + json.dumps(item, ensure_ascii=False) for item in value)
        return "[\n" + items + "\n  ]"
    return json.dumps(value, ensure_ascii=False)


def loads(text: str) -> dict[str, ImageDescription]:
    return {name: ImageDescription.from_json(data) for name, data in json.loads(text).items()}


def load(path: Path = CATALOGUE_PATH) -> dict[str, ImageDescription]:
    """The committed catalogue."""
    try:
        return loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogueError(
            f"the image catalogue {path} cannot be read ({exc}); regenerate it: mamori images describe --write"
        ) from None


@lru_cache(maxsize=1)
def _committed() -> dict[str, ImageDescription]:
    return load()


def entry(image_name: str) -> ImageDescription:
    """Image *image_name* in the committed catalogue (no Docker)."""
    catalogue = _committed()
    if image_name not in catalogue:
        raise UnknownImage(f"unknown image {image_name!r} (catalogue: {', '.join(sorted(catalogue))})")
    return catalogue[image_name]


def accounts(image_name: str) -> frozenset[str]:
    """Every user name in the image's /etc/passwd (a file owner must be one of them or a scenario account)."""
    return frozenset(a.name for a in entry(image_name).accounts)


def groups(image_name: str) -> frozenset[str]:
    return frozenset(entry(image_name).groups)


def commands(image_name: str) -> frozenset[str]:
    """Which of ``COMMANDS`` the image has on its PATH."""
    return frozenset(entry(image_name).commands)
