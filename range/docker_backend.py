"""The only module of ``range`` that talks to Docker (through the Docker SDK).

Low-level, typed operations on images, networks and containers; the range
engine composes them. Docker's exceptions become ``RangeError`` subclasses.
"""
from __future__ import annotations

import io
import posixpath
import tarfile
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import docker
from docker.errors import APIError, BuildError, DockerException, ImageNotFound, NotFound

from range import hostproc
from range.errors import EngineUnavailable, ImageBuildError, RangeError
from range.results import ContainerInfo, ExecResult, NetworkInfo, ProcessInfo
from range.spec import LogLimits

_GO_MODE_DIR = 1 << 31  # os.ModeDir in the stat Docker returns
_GO_MODE_SYMLINK = 1 << 27  # os.ModeSymlink
MAX_LINKS = 8  # symbolic links followed in a row by get_file(follow=True)


class DockerFailure(RangeError):
    """A Docker Engine request failed; the message is Docker's, shortened."""


class DockerBackend:
    """A connection to one Docker Engine (``DOCKER_HOST`` or the local socket).

    Every container it creates gets *logs* (rotation of its stdout/stderr
    log) and, when *layer_quota_bytes* is set and the storage driver can
    enforce it (overlay2 on xfs mounted with ``pquota``), a size limit on its
    writable layer. Whether the driver can is learnt at the first create: a
    refusal is remembered and the container is created without it (the
    engine's disk watchdog bounds it then).
    """

    def __init__(self, base_url: str | None = None, timeout: int = 120, *, logs: LogLimits = LogLimits(),
                 layer_quota_bytes: int = 0) -> None:
        self.logs = logs
        self.layer_quota_bytes = layer_quota_bytes
        self.layer_quota_supported: bool | None = None  # unknown until a create tries it
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
        self.api = self.client.api

    def engine_version(self) -> str:
        return str(self.client.version().get("Version", "?"))

    def ping(self) -> None:
        try:
            self.client.ping()
        except DockerException as exc:
            raise EngineUnavailable(f"the Docker Engine stopped answering ({_short(exc)})") from None

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
                self.api.import_image_from_data(
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

    def image_config(self, tag: str) -> dict[str, Any]:
        """The image's run configuration (``Cmd``, ``ExposedPorts``, ``Labels``...)."""
        try:
            return dict(self.api.inspect_image(tag).get("Config") or {})
        except ImageNotFound:
            raise DockerFailure(f"image {tag} does not exist (run `mamori images build`)") from None

    def start_probe(self, image: str, labels: Mapping[str, str]) -> str:
        """Start a container of *image* that only sleeps: no network, none of the image's start-up.

        It removes itself after ten minutes at most, should its caller die before removing it.
        """
        try:
            created = self.api.create_container(
                image, entrypoint=["sleep", "600"], command=[], labels=dict(labels),
                host_config=self.api.create_host_config(network_mode="none", init=True, auto_remove=True),
            )
            self.api.start(created["Id"])
        except ImageNotFound:
            raise DockerFailure(f"image {image} does not exist (run `mamori images build`)") from None
        except DockerException as exc:
            raise DockerFailure(f"starting a probe of {image} failed: {_short(exc)}") from None
        return str(created["Id"])

    def remove_image(self, tag: str) -> None:
        try:
            self.client.images.remove(tag, force=True)
        except ImageNotFound:
            pass

    # Networks ---------------------------------------------------------------

    def networks(self, label_filters: Sequence[str]) -> list[NetworkInfo]:
        try:
            found = self.api.networks(filters={"label": list(label_filters)})
        except DockerException as exc:
            raise DockerFailure(f"listing networks failed: {_short(exc)}") from None
        return [_network_info(n) for n in found]

    def used_subnets(self) -> list[str]:
        """Every IPv4 subnet any Docker network on this engine uses."""
        subnets = []
        for network in self.api.networks():
            for config in (network.get("IPAM") or {}).get("Config") or []:
                if config.get("Subnet") and ":" not in config["Subnet"]:
                    subnets.append(config["Subnet"])
        return subnets

    def create_network(self, name: str, subnet: str, bridge: str, labels: Mapping[str, str]) -> NetworkInfo:
        """A bridge network without masquerading (no way out); the host firewall does the rest."""
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        options = {
            "com.docker.network.bridge.name": bridge,
            "com.docker.network.bridge.enable_ip_masquerade": "false",
            "com.docker.network.bridge.enable_icc": "true",
        }
        try:
            created = self.api.create_network(
                name, driver="bridge", ipam=ipam, options=options, labels=dict(labels),
                check_duplicate=True,
            )
            return _network_info(self.api.inspect_network(created["Id"]))
        except DockerException as exc:
            raise DockerFailure(f"creating network {name} ({subnet}) failed: {_short(exc)}") from None

    def remove_network(self, network_id: str) -> None:
        try:
            self.api.remove_network(network_id)
        except NotFound:
            pass
        except DockerException as exc:
            raise DockerFailure(f"removing network {network_id[:12]} failed: {_short(exc)}") from None

    # Containers -------------------------------------------------------------

    def containers(self, label_filters: Sequence[str], *, inspect: bool = True) -> list[ContainerInfo]:
        """The labelled containers; ``inspect=False`` reads the listing alone (one API call, no PIDs,
        no host config, published ports of running containers only)."""
        try:
            found = self.api.containers(all=True, filters={"label": list(label_filters)})
            if not inspect:
                return [_summary(item) for item in found]
            return [c for c in (self._inspect(item["Id"]) for item in found) if c is not None]
        except DockerException as exc:
            raise DockerFailure(f"listing containers failed: {_short(exc)}") from None

    def container(self, container_id: str) -> ContainerInfo | None:
        try:
            return self._inspect(container_id)
        except DockerException as exc:
            raise DockerFailure(f"inspecting {container_id[:12]} failed: {_short(exc)}") from None

    def _inspect(self, container_id: str) -> ContainerInfo | None:
        try:
            data = self.api.inspect_container(container_id)
        except NotFound:
            return None
        networks = data["NetworkSettings"].get("Networks") or {}
        # Requested bindings count too: a created, not yet started container already holds its port.
        requested = (data.get("HostConfig") or {}).get("PortBindings") or {}
        ports = {**requested, **(data["NetworkSettings"].get("Ports") or {})}
        published = {
            port: int(bindings[0]["HostPort"])
            for port, bindings in ports.items() if bindings and bindings[0].get("HostPort")
        }
        return ContainerInfo(
            id=data["Id"], name=data["Name"].lstrip("/"), labels=data["Config"].get("Labels") or {},
            status=data["State"]["Status"], pid=int(data["State"].get("Pid") or 0),
            addresses={name: n.get("IPAddress", "") for name, n in networks.items()},
            published=published, host_config=data.get("HostConfig") or {}, created=data.get("Created", ""),
        )

    def create_container(
        self,
        *,
        name: str,
        image: str,
        hostname: str,
        labels: Mapping[str, str],
        networks: Sequence[tuple[str, str, Sequence[str]]],
        extra_hosts: Mapping[str, str],
        cap_add: Sequence[str],
        sysctls: Mapping[str, str],
        memory_bytes: int,
        nano_cpus: int,
        pids: int,
        publish: Mapping[str, tuple[str, int | None]] | None = None,
        dns: Sequence[str] = (),
    ) -> str:
        """Create (not start) a hardened container on *networks* (name, address, aliases); *dns*: its resolvers."""
        first, *others = networks
        host_config = self.api.create_host_config(
            cap_drop=["ALL"], cap_add=list(cap_add), security_opt=["no-new-privileges:true"],
            privileged=False, mem_limit=memory_bytes, memswap_limit=memory_bytes,
            nano_cpus=nano_cpus, pids_limit=pids, init=True, extra_hosts=dict(extra_hosts),
            sysctls=dict(sysctls), restart_policy={"Name": "unless-stopped"}, dns=list(dns) or None,
            port_bindings={port: [binding] for port, binding in (publish or {}).items()},
            network_mode=first[0],
            log_config=docker.types.LogConfig(type="json-file", config={
                "max-size": self.logs.max_size, "max-file": str(self.logs.max_files)}),
        )
        endpoint = self.api.create_endpoint_config(ipv4_address=first[1], aliases=list(first[2]))
        try:
            created = self._create_bounded(
                image, name=name, hostname=hostname, labels=dict(labels), detach=True,
                host_config=host_config, ports=list(publish or {}),
                networking_config=self.api.create_networking_config({first[0]: endpoint}),
            )
            for network, address, aliases in others:
                self.api.connect_container_to_network(
                    created["Id"], network, ipv4_address=address, aliases=list(aliases)
                )
        except ImageNotFound:
            raise DockerFailure(f"image {image} does not exist (run `mamori images build`)") from None
        except DockerException as exc:
            raise DockerFailure(f"creating container {name} failed: {_short(exc)}") from None
        return str(created["Id"])

    def _create_bounded(self, image: str, *, host_config: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Create with the writable layer's quota when wanted and possible; without it when the driver refuses."""
        if self.layer_quota_bytes > 0 and self.layer_quota_supported is not False:
            bounded = {**host_config, "StorageOpt": {"size": str(self.layer_quota_bytes)}}
            try:
                created = self.api.create_container(image, host_config=bounded, **kwargs)
            except APIError as exc:
                if "storage-opt" not in str(exc).lower() and "storageopt" not in str(exc).lower():
                    raise
                self.layer_quota_supported = False  # e.g. overlay2 on ext4: the watchdog bounds the layer
            else:
                self.layer_quota_supported = True
                return created
        return self.api.create_container(image, host_config=host_config, **kwargs)

    def start(self, container_id: str) -> None:
        self._call("starting", container_id, self.api.start)

    def stop(self, container_id: str, timeout: int = 5) -> None:
        self._call("stopping", container_id, lambda c: self.api.stop(c, timeout=timeout))

    def pause(self, container_id: str) -> None:
        self._call("pausing", container_id, self.api.pause)

    def unpause(self, container_id: str) -> None:
        self._call("resuming", container_id, self.api.unpause)

    def remove_container(self, container_id: str) -> None:
        try:
            self.api.remove_container(container_id, force=True, v=True)
        except NotFound:
            pass
        except DockerException as exc:
            raise DockerFailure(f"removing container {container_id[:12]} failed: {_short(exc)}") from None

    def _call(self, verb: str, container_id: str, fn) -> None:  # type: ignore[no-untyped-def]
        try:
            fn(container_id)
        except DockerException as exc:
            raise DockerFailure(f"{verb} {container_id[:12]} failed: {_short(exc)}") from None

    # Disk use ------------------------------------------------------------------

    def root_dir(self) -> str:
        """Where the Docker Engine keeps images, layers and logs (``DockerRootDir``)."""
        try:
            return str(self.client.info().get("DockerRootDir") or "/var/lib/docker")
        except DockerException as exc:
            raise DockerFailure(f"reading the engine's information failed: {_short(exc)}") from None

    def writable_layer(self, container_id: str) -> str | None:
        """The directory holding the container's writable layer on the Docker host (overlay2's
        ``UpperDir``), or ``None`` under another storage driver or when the container is gone."""
        try:
            data = self.api.inspect_container(container_id)
        except NotFound:
            return None
        except DockerException as exc:
            raise DockerFailure(f"inspecting {container_id[:12]} failed: {_short(exc)}") from None
        driver = data.get("GraphDriver") or {}
        if driver.get("Name") != "overlay2":
            return None
        return (driver.get("Data") or {}).get("UpperDir") or None

    def layer_sizes(self, label_filters: Sequence[str]) -> dict[str, int]:
        """Each labelled running container's writable-layer size as the engine counts it
        (``docker ps --size``: the engine walks every layer, slowly; the fallback of a remote engine)."""
        try:
            found = self.api.containers(filters={"label": list(label_filters), "status": "running"}, size=True)
        except DockerException as exc:
            raise DockerFailure(f"listing container sizes failed: {_short(exc)}") from None
        return {item["Id"]: int(item.get("SizeRw") or 0) for item in found}

    # Inside containers --------------------------------------------------------

    def exec(
        self,
        container_id: str,
        argv: Sequence[str],
        *,
        user: str = "root",
        timeout: float = 30,
        max_output: int = 64 * 1024,
        environment: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run *argv* and wait, killing it at *timeout*; output beyond *max_output* is cut."""
        started = time.monotonic()
        try:
            exec_id = self.api.exec_create(
                container_id, list(argv), user=user, stdout=True, stderr=True,
                environment=dict(environment or {}),
            )["Id"]
            raw = self.api.exec_start(exec_id, socket=True)
        except DockerException as exc:
            raise DockerFailure(f"exec in {container_id[:12]} failed: {_short(exc)}") from None
        sock = getattr(raw, "_sock", raw)
        try:
            output, truncated, timed_out = hostproc.read_frames(sock, started + timeout, max_output)
            if timed_out or truncated:
                self._kill_exec(exec_id)
        finally:
            hostproc.close_hijacked(raw)
        exit_code = None if timed_out else self._exit_code(exec_id, started + timeout)
        return ExecResult(exit_code, output, truncated, timed_out, time.monotonic() - started)

    def _exit_code(self, exec_id: str, deadline: float) -> int | None:
        while True:
            info = self.api.exec_inspect(exec_id)
            if not info.get("Running"):
                return info.get("ExitCode")
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def _kill_exec(self, exec_id: str) -> None:
        """Kill an exec'd process and its descendants.

        The PIDs are the Docker host's, so this only works with a local engine;
        a PID is killed only if its cgroup names the exec's container, never
        a process of the control plane's machine that happens to reuse it.
        """
        deadline = time.monotonic() + 2
        while True:  # right after start Docker may not have recorded the PID yet
            try:
                info = self.api.exec_inspect(exec_id)
            except DockerException:
                return
            pid, container = int(info.get("Pid") or 0), str(info.get("ContainerID") or "")
            if pid > 0 or not info.get("Running") or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if pid > 0 and container and hostproc.in_container(pid, container):
            hostproc.kill_tree(pid, container)

    def start_detached(self, container_id: str, argv: Sequence[str], *, user: str = "root") -> None:
        try:
            exec_id = self.api.exec_create(container_id, list(argv), user=user, stdout=False, stderr=False)["Id"]
            self.api.exec_start(exec_id, detach=True)
        except DockerException as exc:
            raise DockerFailure(f"starting a process in {container_id[:12]} failed: {_short(exc)}") from None

    def put_file(self, container_id: str, path: str, content: bytes, mode: int = 0o644) -> None:
        directory, _, name = path.rpartition("/")
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), mode, int(time.time())
            tar.addfile(info, io.BytesIO(content))
        try:
            self.exec(container_id, ["mkdir", "-p", directory or "/"], timeout=10)
            if not self.api.put_archive(container_id, directory or "/", archive.getvalue()):
                raise DockerFailure(f"writing {path} in {container_id[:12]} failed")
        except DockerException as exc:
            raise DockerFailure(f"writing {path} in {container_id[:12]} failed: {_short(exc)}") from None

    def put_files(self, container_id: str, files: Sequence[tuple[str, bytes, int]]) -> None:
        """Write absolute-path files in one archive; works before the container starts."""
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for path, content, mode in files:
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size, info.mode, info.mtime = len(content), mode, int(time.time())
                tar.addfile(info, io.BytesIO(content))
        try:
            if not self.api.put_archive(container_id, "/", archive.getvalue()):
                raise DockerFailure(f"writing files in {container_id[:12]} failed")
        except DockerException as exc:
            raise DockerFailure(f"writing files in {container_id[:12]} failed: {_short(exc)}") from None

    def get_file(self, container_id: str, path: str, max_bytes: int = 1024 * 1024, *,
                 follow: bool = False) -> bytes | None:
        """The file's bytes (at most *max_bytes*), or ``None`` when it does not exist.

        With *follow*, a symbolic link is followed (resolved inside the container, as the engine
        resolves archive paths), at most ``MAX_LINKS`` deep.
        """
        for _ in range(MAX_LINKS + 1):
            found = self._archived_file(container_id, path, max_bytes)
            if not isinstance(found, str):
                return found
            if not follow:
                return None
            path = posixpath.normpath(posixpath.join(posixpath.dirname(path), found))
        return None

    def _archived_file(self, container_id: str, path: str, max_bytes: int) -> bytes | str | None:
        """A regular file's bytes, a symbolic link's target (``str``), or ``None``."""
        try:
            stream, stat = self.api.get_archive(container_id, path)
        except NotFound:
            return None
        except DockerException as exc:
            if "too many links" in str(exc):
                return None  # a loop of links leads to no file (as openat2's ELOOP on the host)
            raise DockerFailure(f"reading {path} in {container_id[:12]} failed: {_short(exc)}") from None
        if stat.get("mode", 0) & _GO_MODE_DIR:
            return None
        data = bytearray()
        for chunk in stream:  # the tar of one file: its header, then at most max_bytes of it
            data += chunk
            if len(data) > max_bytes + 64 * 1024:
                break
        with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r|") as tar:
            member = tar.next()
            if member is not None and member.issym():
                return member.linkname
            if member is None or not member.isfile():
                return None
            extracted = tar.extractfile(member)
            try:
                return extracted.read(max_bytes) if extracted else None
            except tarfile.ReadError:
                return None

    def list_tree(self, container_id: str, path: str, max_entries: int) -> list[tuple[str, str, int]] | None:
        """Every entry below the directory *path* as ``(relative path, kind, size)`` (as
        ``hostread.list_tree``), from the engine's archive of it; ``None`` when it is no directory."""
        try:
            stream, stat = self.api.get_archive(container_id, path)
        except NotFound:
            return None
        except DockerException as exc:
            raise DockerFailure(f"listing {path} in {container_id[:12]} failed: {_short(exc)}") from None
        if not stat.get("mode", 0) & _GO_MODE_DIR or stat.get("mode", 0) & _GO_MODE_SYMLINK:
            return None
        found: list[tuple[str, str, int]] = []
        with tarfile.open(fileobj=_ChunkReader(stream), mode="r|") as tar:
            for member in tar:
                name = member.name.split("/", 1)[1] if "/" in member.name else ""
                if not name:
                    continue  # the directory itself
                if len(found) >= max_entries:
                    raise DockerFailure(f"{path} in {container_id[:12]} has more than {max_entries} entries")
                kind = ("dir" if member.isdir() else "file" if member.isfile() else
                        "link" if member.issym() else "other")
                found.append((name.rstrip("/"), kind, member.size if kind == "file" else 0))
        return found

    def processes(self, container_id: str) -> list[ProcessInfo]:
        """The container's processes as the engine sees them (the host's ps, not the container's)."""
        try:
            top = self.api.top(container_id, ps_args="-eo pid,ppid,uid,args")
        except DockerException as exc:
            raise DockerFailure(f"listing processes of {container_id[:12]} failed: {_short(exc)}") from None
        names = hostproc.passwd_names(self.get_file(container_id, "/etc/passwd", 256 * 1024) or b"")
        titles = [t.upper() for t in top.get("Titles") or []]
        out = []
        for row in top.get("Processes") or []:
            values = dict(zip(titles, row))
            uid = int(values["UID"])
            out.append(ProcessInfo(int(values["PID"]), int(values["PPID"]), uid, names.get(uid, str(uid)),
                                   values.get("COMMAND") or values.get("ARGS") or ""))
        return out


def _network_info(data: dict) -> NetworkInfo:
    configs = (data.get("IPAM") or {}).get("Config") or []
    subnet = next((c.get("Subnet") for c in configs if c.get("Subnet") and ":" not in c["Subnet"]), None)
    return NetworkInfo(
        id=data["Id"], name=data["Name"], labels=data.get("Labels") or {}, subnet=subnet,
        bridge=(data.get("Options") or {}).get("com.docker.network.bridge.name"),
    )


def _summary(item: dict[str, Any]) -> ContainerInfo:
    networks = (item.get("NetworkSettings") or {}).get("Networks") or {}
    published = {f"{p['PrivatePort']}/{p.get('Type', 'tcp')}": int(p["PublicPort"])
                 for p in item.get("Ports") or [] if p.get("PublicPort")}
    names = item.get("Names") or [""]
    return ContainerInfo(id=item["Id"], name=names[0].lstrip("/"), labels=item.get("Labels") or {},
                         status=item.get("State", ""), pid=0,
                         addresses={name: n.get("IPAddress", "") for name, n in networks.items()},
                         published=published)


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _ChunkReader(io.RawIOBase):
    """A file object over the engine's stream of archive chunks, for ``tarfile``'s stream mode."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
