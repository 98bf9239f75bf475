"""The only module of ``range`` that talks to Docker (through the Docker SDK).

Split by resource as the library grows (images here; networks and
containers come with the range engine), all behind ``DockerBackend``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Mapping

import docker
from docker.errors import APIError, BuildError, DockerException, ImageNotFound

from range.errors import EngineUnavailable, ImageBuildError

PLATFORM_LABEL = "org.mamori.platform"


class DockerBackend:
    """A connection to one Docker Engine (``DOCKER_HOST`` or the local socket)."""

    def __init__(self, base_url: str | None = None, timeout: int = 120) -> None:
        try:
            if base_url:
                self.client = docker.DockerClient(base_url=base_url, timeout=timeout)
            else:
                self.client = docker.from_env(timeout=timeout)
            self.client.ping()
        except DockerException as exc:
            where = base_url or "the local socket (/var/run/docker.sock)"
            raise EngineUnavailable(
                f"the Docker Engine at {where} does not answer ({_short(exc)}); "
                "start it (as root: `dockerd &`, or run `make docker`) or set DOCKER_HOST"
            ) from None

    def engine_version(self) -> str:
        return str(self.client.version().get("Version", "?"))

    # Images -----------------------------------------------------------------

    def image_exists(self, tag: str) -> bool:
        try:
            self.client.images.get(tag)
        except ImageNotFound:
            return False
        return True

    def import_rootfs(self, tarball: Path, tag: str, labels: Mapping[str, str]) -> None:
        """Import a root filesystem tarball as image *tag*."""
        repository, _, version = tag.partition(":")
        changes = [f'LABEL {key}="{value}"' for key, value in labels.items()]
        try:
            with tarball.open("rb") as data:
                self.client.api.import_image_from_data(
                    data, repository=repository, tag=version or "latest", changes=changes
                )
        except (APIError, OSError) as exc:
            raise ImageBuildError(f"importing {tarball} as {tag} failed: {_short(exc)}") from None
        if not self.image_exists(tag):
            raise ImageBuildError(f"importing {tarball} as {tag} produced no image")

    def build_image(
        self, context: Path, tag: str, buildargs: Mapping[str, str], labels: Mapping[str, str]
    ) -> Iterator[str]:
        """Build *context* as *tag*, yielding the build log line by line."""
        try:
            _image, log = self.client.images.build(
                path=str(context), tag=tag, buildargs=dict(buildargs), labels=dict(labels),
                rm=True, forcerm=True, pull=False, network_mode="bridge",
            )
        except BuildError as exc:
            tail = [c.get("stream", "").strip() for c in exc.build_log if c.get("stream")][-8:]
            raise ImageBuildError(f"building {tag} failed: {exc.msg}\n" + "\n".join(tail)) from None
        except APIError as exc:
            raise ImageBuildError(f"building {tag} failed: {_short(exc)}") from None
        for chunk in log:
            line = str(chunk.get("stream", "")).rstrip()
            if line:
                yield line

    def tag_image(self, source: str, target: str) -> None:
        repository, _, version = target.partition(":")
        self.client.images.get(source).tag(repository, version or "latest")

    def remove_image(self, tag: str) -> None:
        try:
            self.client.images.remove(tag, force=True)
        except ImageNotFound:
            pass


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
