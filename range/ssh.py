"""SSH through a team's access gateway — the only module of ``range`` that imports paramiko.

A login is made the way a trainee makes one: SSH to the gateway's published
port, a ``direct-tcpip`` channel from the gateway to the host's port 22, and
a password login over that channel. ``ssh_login`` only tries the login;
``run_command`` also runs one command in that session (what a rehearsal's
scripted team types); ``open_shell`` keeps an interactive shell open on a
terminal of its own (the browser terminal). Everything opened is closed again.
"""
from __future__ import annotations

import io
import secrets
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import paramiko

from range.errors import RangeError
from range.results import ExecResult

MAX_COMMAND_OUTPUT = 64 * 1024
CLOSE_WAIT = 2.0  # seconds a closed session may take to wind down
KEEPALIVE = 15  # seconds between keepalives of a long-lived shell, so a vanished host is noticed
SHELL_ENVIRONMENT = {"LANG": "C.UTF-8"}  # Japanese file names and text, whatever the host's default


class SshUnavailable(RangeError):
    """The login could not be tried: the gateway or the host did not answer, refused us, or timed out."""


def ssh_login(gateway_host: str, gateway_port: int, gateway_user: str, gateway_password: str,
              target: str, user: str, password: str, timeout: float) -> bool:
    """Does a password login as *user* on *target* (port 22, through the gateway) succeed?

    ``False`` when the host refuses the credentials; ``SshUnavailable`` when
    no answer could be had (the gateway's own login failing included: that
    says nothing about the host).
    """
    try:
        with _session(gateway_host, gateway_port, gateway_user, gateway_password, target, user, password,
                      timeout):
            return True
    except _HostRefused:
        return False


def access(sock: socket.socket, target: str, user: str, password: str | None, key: bytes | None,
           timeout: float, shell_or_tunnel: bool) -> bool:
    """Does an SSH login as *user* over the connected *sock* get in?

    *sock* was connected from wherever the login is to come from (e.g. the
    attacker's host, in its network namespace). With a password or a private
    key's text. With *shell_or_tunnel*, getting in also needs the account to
    give a shell (a builtin ``echo`` of a random word comes back: no program
    of the host a trainee could replace is asked) or a TCP tunnel (a
    ``direct-tcpip`` channel to its own port 22 answers ``SSH-``): a
    ``nologin`` shell still tunnels. ``SshUnavailable`` when no answer could
    be had.
    """
    client = _client()
    try:
        try:
            client.connect(target, sock=sock, username=user, password=password,
                           pkey=_private_key(key) if key is not None else None, **_options(timeout))
        except paramiko.AuthenticationException:
            return False
        transport = client.get_transport()
        if not shell_or_tunnel or transport is None:
            return transport is not None
        return _tunnels(transport, timeout) or _shell_answers(transport, timeout)
    except (paramiko.SSHException, OSError, EOFError, ValueError) as exc:
        raise SshUnavailable(f"SSH to {target} failed: {_why(exc)}") from None
    finally:
        client.close()


def _private_key(text: bytes) -> paramiko.PKey:
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text.decode("utf-8", errors="replace")))
        except paramiko.SSHException:
            continue
    raise ValueError("the private key is of no kind paramiko reads (ed25519, ecdsa, rsa) or is protected")


def _tunnels(transport: paramiko.Transport, timeout: float) -> bool:
    try:
        channel = transport.open_channel("direct-tcpip", ("localhost", 22), ("127.0.0.1", 0), timeout=timeout)
    except (paramiko.ChannelException, paramiko.SSHException, EOFError):
        return False  # forwarding refused
    try:
        channel.settimeout(timeout)
        try:
            return channel.recv(4) == b"SSH-"
        except (socket.timeout, OSError):
            return False
    finally:
        channel.close()


def _shell_answers(transport: paramiko.Transport, timeout: float) -> bool:
    word = f"mamori-{secrets.token_hex(8)}"
    try:
        channel = transport.open_session(timeout=timeout)
    except (paramiko.ChannelException, paramiko.SSHException, EOFError):
        return False
    try:
        channel.exec_command(f"echo {word}")
        output, _, _ = _read(channel, time.monotonic() + timeout, 4096)
        return word.encode() in output
    finally:
        channel.close()


def run_command(gateway_host: str, gateway_port: int, gateway_user: str, gateway_password: str,
                target: str, user: str, password: str, command: str, timeout: float,
                max_output: int = MAX_COMMAND_OUTPUT) -> ExecResult:
    """Log in to *target* as *user* through the gateway and run *command* in the user's shell.

    Output (stdout and stderr together) is cut at *max_output* bytes; a
    command still running at *timeout* seconds is abandoned (``timed_out``,
    no exit code). ``SshUnavailable`` when the session could not be made,
    the host's refusal of the credentials included.
    """
    started = time.monotonic()
    try:
        with _session(gateway_host, gateway_port, gateway_user, gateway_password, target, user, password,
                      timeout) as host:
            transport = host.get_transport()
            if transport is None:
                raise SshUnavailable(f"{target} closed the connection")
            channel = transport.open_session(timeout=timeout)
            try:
                channel.set_combine_stderr(True)
                channel.exec_command(command)
                output, truncated, timed_out = _read(channel, started + timeout, max_output)
                code = None if timed_out else channel.recv_exit_status()
            finally:
                channel.close()
    except _HostRefused:
        raise SshUnavailable(f"{target} refused the password of {user!r}") from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise SshUnavailable(f"a command on {target} through the gateway failed: {_why(exc)}") from None
    return ExecResult(code, output, truncated, timed_out, time.monotonic() - started)


class _HostRefused(Exception):
    """The host (not the gateway) refused the credentials."""


@contextmanager
def _session(gateway_host: str, gateway_port: int, gateway_user: str, gateway_password: str,
             target: str, user: str, password: str, timeout: float) -> Iterator[paramiko.SSHClient]:
    """A logged-in SSH client on *target*, reached through the gateway; ``_HostRefused`` on a wrong password."""
    link = _Link(_client(), _client())
    try:
        _connect(link, gateway_host, gateway_port, gateway_user, gateway_password, target, user, password, timeout)
        yield link.host
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise SshUnavailable(f"SSH to {target} through the gateway failed: {_why(exc)}") from None
    finally:
        link.close()


@dataclass
class _Link:
    """The two SSH clients of one login (gateway, then host through it) and the channel between them."""

    gateway: paramiko.SSHClient
    host: paramiko.SSHClient
    channel: paramiko.Channel | None = None

    def close(self) -> None:
        inner = self.host.get_transport()
        self.host.close()
        if inner is not None and inner.is_alive():  # its thread still talks through the gateway's channel
            inner.join(CLOSE_WAIT)
        if self.channel is not None:
            self.channel.close()
        self.gateway.close()


def _connect(link: _Link, gateway_host: str, gateway_port: int, gateway_user: str, gateway_password: str,
             target: str, user: str, password: str, timeout: float) -> None:
    try:
        link.gateway.connect(gateway_host, port=gateway_port, username=gateway_user,
                             password=gateway_password, **_options(timeout))
    except paramiko.AuthenticationException as exc:
        raise SshUnavailable(f"the gateway refused the team's account ({exc})") from None
    transport = link.gateway.get_transport()
    if transport is None:
        raise SshUnavailable("the gateway closed the connection")
    link.channel = transport.open_channel("direct-tcpip", (target, 22), ("127.0.0.1", 0), timeout=timeout)
    try:
        link.host.connect(target, sock=link.channel, username=user, password=password, **_options(timeout))
    except paramiko.AuthenticationException:
        raise _HostRefused() from None


class Shell:
    """An interactive login shell on a range host, on a terminal (pty) of its own.

    ``recv`` gives what the shell prints (``b""`` once it has ended, ``None``
    when nothing came within the timeout); after that, ``exited`` tells a
    shell that ended by itself (``exit``) from a lost one (the host was reset
    or stopped, or the gateway went away).
    """

    def __init__(self, link: _Link, channel: paramiko.Channel) -> None:
        self._link = link
        self._channel = channel

    def send(self, data: bytes) -> None:
        try:
            self._channel.sendall(data)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the next recv reports the end

    def recv(self, timeout: float) -> bytes | None:
        self._channel.settimeout(timeout)
        try:
            return self._channel.recv(32 * 1024)
        except socket.timeout:
            return None
        except (OSError, EOFError, paramiko.SSHException):
            return b""

    def resize(self, cols: int, rows: int) -> None:
        try:
            self._channel.resize_pty(width=cols, height=rows)
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def exited(self) -> bool:
        """Did the shell end by itself? Not if it was killed (exit-signal) or its connection went too."""
        # The exit status may come just after the end of the output: wait for it a moment (under load).
        if not self._channel.status_event.wait(CLOSE_WAIT / 4) or self._channel.recv_exit_status() == -1:
            return False
        transport = self._link.host.get_transport()
        if transport is None:
            return False
        transport.join(CLOSE_WAIT / 4)  # a host going away takes the whole connection with it, at once
        return transport.is_active()

    def close(self) -> None:
        self._channel.close()
        self._link.close()


def open_shell(gateway_host: str, gateway_port: int, gateway_user: str, gateway_password: str,
               target: str, user: str, password: str, *, cols: int, rows: int, timeout: float,
               term: str = "xterm-256color") -> Shell:
    """Log in to *target* as *user* through the gateway and start a login shell on a *cols*×*rows* terminal.

    ``SshUnavailable`` when the shell could not be had (the host refusing
    the password included). The caller closes the shell.
    """
    link = _Link(_client(), _client())
    try:
        _connect(link, gateway_host, gateway_port, gateway_user, gateway_password, target, user, password, timeout)
        for transport in (link.gateway.get_transport(), link.host.get_transport()):
            if transport is not None:
                transport.set_keepalive(KEEPALIVE)
        transport = link.host.get_transport()
        if transport is None:
            raise SshUnavailable(f"{target} closed the connection")
        channel = transport.open_session(timeout=timeout)
        channel.get_pty(term=term, width=cols, height=rows)
        channel.update_environment(SHELL_ENVIRONMENT)  # (SSHClient.invoke_shell would drop it)
        channel.invoke_shell()
        return Shell(link, channel)
    except _HostRefused:
        link.close()
        raise SshUnavailable(f"{target} refused the password of {user!r}") from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        link.close()
        raise SshUnavailable(f"SSH to {target} through the gateway failed: {_why(exc)}") from None
    except BaseException:
        link.close()
        raise


def _read(channel: paramiko.Channel, deadline: float, max_output: int) -> tuple[bytes, bool, bool]:
    """Everything the command prints until it ends or *deadline* passes: (output, truncated, timed out)."""
    kept = bytearray()
    truncated = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(kept), truncated, True
        channel.settimeout(min(left, 1.0))
        try:
            data = channel.recv(32 * 1024)
        except socket.timeout:
            continue
        if not data:
            break
        room = max_output - len(kept)
        kept += data[:room]  # keep reading past the limit, so the command is not blocked on a full pipe
        truncated = truncated or len(data) > room
    if not channel.status_event.wait(max(deadline - time.monotonic(), 0.0)):
        return bytes(kept), truncated, True
    return bytes(kept), truncated, False


def _client() -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    # Range hosts make their host keys at first start: there is nothing to pin them to.
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    return client


def _options(timeout: float) -> dict[str, Any]:
    return {"timeout": timeout, "banner_timeout": timeout, "auth_timeout": timeout,
            "allow_agent": False, "look_for_keys": False}


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
