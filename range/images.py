"""Range images: a Debian root filesystem from mmdebstrap, then Dockerfiles on top.

Every tag carries a hash of what the image is made from, so an unchanged image
is found and reused instead of rebuilt. Nothing is pulled from a registry.
A scenario may extend a role image with Debian packages and files
(``Extension``); its Dockerfile is generated here and its tag hashes the role
image's tag, the packages and every file.
"""
from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from range.docker_backend import DockerBackend
from range.errors import ImageBuildError

IMAGES_DIR = Path(__file__).resolve().parent / "images"
SUITE = "bookworm"
VARIANT = "minbase"
# Images carry only this label: containers inherit image labels, and the range
# labels (platform, exercise, team, host) must mean "made by the range engine".
IMAGE_LABEL = "org.mamori.image"
LABEL_SCHEME = "image-label-v2"  # part of every tag, so relabelled images are rebuilt
HOST_APT_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))

Log = Callable[[str], None]


@dataclass(frozen=True)
class ImageResult:
    name: str
    tag: str
    built: bool


def _hash_files(paths: list[Path], *extra: str) -> str:
    digest = hashlib.sha256()
    for value in extra:
        digest.update(value.encode() + b"\0")
    for path in sorted(paths):
        digest.update(path.relative_to(IMAGES_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _context_files(name: str) -> list[Path]:
    context = IMAGES_DIR / name
    if not (context / "Dockerfile").is_file():
        raise ImageBuildError(f"unknown image {name!r}: {context}/Dockerfile does not exist")
    return [p for p in context.rglob("*") if p.is_file() and not _ignored(p)]


def _ignored(path: Path) -> bool:
    """Byte-code caches are not part of an image (and must not change its tag)."""
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def base_packages() -> list[str]:
    lines = (IMAGES_DIR / "base" / "packages.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def rootfs_tag() -> str:
    packages = IMAGES_DIR / "base" / "packages.txt"
    return f"mamori/rootfs:{_hash_files([packages], SUITE, VARIANT, LABEL_SCHEME)}"


def image_tag(name: str) -> str:
    """The content tag image *name* has (or will have) — computed without Docker."""
    if name == "base":
        return f"mamori/base:{_hash_files(_context_files('base'), rootfs_tag())}"
    return f"mamori/{name}:{_hash_files(_context_files(name), image_tag('base'))}"


def available_images() -> list[str]:
    return sorted(p.parent.name for p in IMAGES_DIR.glob("*/Dockerfile"))


def build_rootfs(backend: DockerBackend, log: Log) -> ImageResult:
    tag = rootfs_tag()
    if backend.image_exists(tag):
        return ImageResult("rootfs", tag, built=False)
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildError("mmdebstrap is not installed (as root: apt-get install mmdebstrap)")
    with tempfile.TemporaryDirectory(prefix="mamori-rootfs-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        command = [
            "mmdebstrap", f"--variant={VARIANT}", "--include=" + ",".join(base_packages()),
            "--aptopt=Acquire::Retries=3", SUITE, str(tarball),
        ]
        command += [str(p) for p in HOST_APT_SOURCES if p.is_file()][:1]
        log(f"mmdebstrap {SUITE} → {tag}")
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-8:])
            raise ImageBuildError(f"mmdebstrap failed (exit {result.returncode}):\n{tail}")
        backend.import_rootfs(tarball, tag, {IMAGE_LABEL: "rootfs"})
    return ImageResult("rootfs", tag, built=True)


def build_image(backend: DockerBackend, name: str, log: Log) -> ImageResult:
    """Build image *name* (and what it stands on) unless its content tag exists."""
    tag = image_tag(name)
    if backend.image_exists(tag):
        return ImageResult(name, tag, built=False)
    if name == "base":
        buildargs = {"ROOTFS": build_rootfs(backend, log).tag}
    else:
        buildargs = {"BASE": build_image(backend, "base", log).tag}
    log(f"docker build {name} → {tag}")
    for line in backend.build_image(
        IMAGES_DIR / name, tag, buildargs, {IMAGE_LABEL: name}
    ):
        log(f"  {line}")
    backend.tag_image(tag, f"mamori/{name}:latest")
    return ImageResult(name, tag, built=True)


ROLE_BUILDERS = 3  # role images over base that build at once (each mostly waits for the mirror)


def build_images(backend: DockerBackend, names: list[str], log: Log) -> list[ImageResult]:
    """Build *names*: base first (every role stands on it), then the others concurrently."""
    if not names:
        return []
    base = build_image(backend, "base", log)
    rest = [name for name in names if name != "base"]
    with ThreadPoolExecutor(max_workers=ROLE_BUILDERS, thread_name_prefix="image") as pool:
        futures = [pool.submit(build_image, backend, name, _prefixed(log, name)) for name in rest]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]
    return [base] * ("base" in names) + [f.result() for f in futures]


def _prefixed(log: Log, name: str) -> Log:
    """Build logs of concurrent builds say whose line it is (their own lines start with two spaces)."""
    return lambda line: log(f"  [{name}] {line.lstrip()}" if line.startswith("  ") else line)


# Scenario images: a role image plus Debian packages and files ------------------------------

EXTENSION_SCHEME = "extension-v1"  # part of every extension's hash: a changed template rebuilds
STAGING = "/.mamori-extension"  # where the files wait in the build, before `install` places them


@dataclass(frozen=True)
class ExtensionFile:
    path: str  # absolute, in the image
    content: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Extension:
    """A scenario's own image: role image *role* with *packages* and *files* baked in."""

    scenario: str
    name: str
    role: str
    packages: tuple[str, ...] = ()
    files: tuple[ExtensionFile, ...] = ()

    @property
    def repository(self) -> str:
        return f"mamori/x-{self.scenario}-{self.name}"


def extension_tag(extension: Extension) -> str:
    """The content tag of *extension* — computed without Docker."""
    digest = hashlib.sha256()
    for value in (EXTENSION_SCHEME, image_tag(extension.role), *sorted(set(extension.packages))):
        digest.update(value.encode() + b"\0")
    for placed in sorted(extension.files, key=lambda f: f.path):
        digest.update(f"\0{placed.path}\0{placed.mode:o}\0".encode() + placed.content)
    return f"{extension.repository}:{digest.hexdigest()[:12]}"


def extension_dockerfile(extension: Extension) -> str:
    """``FROM`` the role image; apt-get the packages; ``install`` the files (parents made 0755, others left alone)."""
    steps = []
    if extension.packages:
        steps += [
            # policy-rc.d keeps the packages' maintainer scripts from starting services mid-build.
            "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d",
            "apt-get update",
            "apt-get install -y --no-install-recommends " + " ".join(shlex.quote(p) for p in extension.packages),
            "apt-get clean",
            "rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d",
        ]
    for index, placed in enumerate(extension.files):
        steps.append(f"install -D -m {placed.mode:04o} {STAGING}/{index} {shlex.quote(placed.path)}")
    lines = ["ARG ROLE", "FROM ${ROLE}", "ENV DEBIAN_FRONTEND=noninteractive"]
    if extension.files:
        lines.append(f"COPY files/ {STAGING}/")
        steps.append(f"rm -rf {STAGING}")
    if steps:
        lines.append("RUN " + " \\\n && ".join(steps))
    return "\n".join(lines) + "\n"


def build_extension(backend: DockerBackend, extension: Extension, log: Log) -> ImageResult:
    """Build *extension* (and its role image) unless its content tag exists."""
    tag = extension_tag(extension)
    name = f"{extension.scenario}/{extension.name}"
    if backend.image_exists(tag):
        return ImageResult(name, tag, built=False)
    role = build_image(backend, extension.role, log)
    with tempfile.TemporaryDirectory(prefix="mamori-extension-") as tmp:
        context = Path(tmp)
        (context / "Dockerfile").write_text(extension_dockerfile(extension), encoding="utf-8")
        (context / "files").mkdir()
        for index, placed in enumerate(extension.files):
            (context / "files" / str(index)).write_bytes(placed.content)
        log(f"docker build {name} (from {extension.role}) → {tag}")
        for line in backend.build_image(context, tag, {"ROLE": role.tag}, {IMAGE_LABEL: name}):
            log(f"  {line}")
    return ImageResult(name, tag, built=True)
