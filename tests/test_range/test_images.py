"""The range base image: built locally, content-tagged, reused, and a working SSH host."""
from __future__ import annotations

import socket
import time
from typing import Iterator

import docker
import pytest

from range.docker_backend import DockerBackend
from range.errors import EngineUnavailable
from range.images import IMAGE_LABEL, available_images, build_image, image_tag, rootfs_tag

TEST_LABEL = "org.mamori.test"

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def backend(docker_backend: DockerBackend) -> DockerBackend:
    return docker_backend


@pytest.fixture
def cleanup() -> Iterator[None]:
    yield
    client = docker.from_env()
    for container in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}=images"}):
        container.remove(force=True)


def test_tags_are_content_hashes_and_stable() -> None:
    assert image_tag("base") == image_tag("base")
    assert image_tag("base").startswith("mamori/base:")
    assert rootfs_tag().startswith("mamori/rootfs:")
    assert "base" in available_images()


def test_an_unchanged_image_is_not_rebuilt(backend: DockerBackend) -> None:
    first = build_image(backend, "base", log=lambda line: None)
    lines: list[str] = []
    again = build_image(backend, "base", log=lines.append)
    assert again.tag == first.tag == image_tag("base")
    assert again.built is False
    assert lines == []
    labels = backend.client.images.get(first.tag).labels
    assert labels.get(IMAGE_LABEL) == "base"
    assert "org.mamori.platform" not in labels, "containers would inherit it"


def test_a_container_of_the_base_image_serves_ssh(backend: DockerBackend, cleanup: None) -> None:
    tag = build_image(backend, "base", log=lambda line: None).tag
    container = backend.client.containers.run(
        tag, detach=True, labels={TEST_LABEL: "images"}, ports={"22/tcp": ("127.0.0.1", None)}
    )
    container.reload()
    port = int(container.attrs["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"])
    banner = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not banner.startswith(b"SSH-2.0-"):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                banner = conn.recv(64)
        except OSError:
            time.sleep(0.3)
    assert banner.startswith(b"SSH-2.0-OpenSSH"), banner
    # Host keys are made when the container starts, not baked into the image.
    keys = container.exec_run(["sh", "-c", "ls /etc/ssh/ssh_host_*_key | wc -l"]).output
    assert int(keys.strip()) >= 2
    other = backend.client.containers.run(tag, detach=True, labels={TEST_LABEL: "images"})
    fingerprint = ["sh", "-c", "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"]
    time.sleep(1)
    assert container.exec_run(fingerprint).output != other.exec_run(fingerprint).output


def test_an_unreachable_engine_is_one_clear_error() -> None:
    with pytest.raises(EngineUnavailable, match="does not answer") as caught:
        DockerBackend("tcp://127.0.0.1:1", timeout=3)
    assert "\n" not in str(caught.value)
