"""SSH logins through a team's access gateway — the only module of ``range`` that imports paramiko.

A login is tried the way a trainee makes one: SSH to the gateway's published
port, a ``direct-tcpip`` channel from the gateway to the host's port 22, and
a password login over that channel. Everything opened is closed again.
"""
from __future__ import annotations

from typing import Any

import paramiko

from range.errors import RangeError


class SshUnavailable(RangeError):
    """The login could not be tried: the gateway or the host did not answer, refused us, or timed out."""


def ssh_login(gateway_host: str, gateway_port: int, gateway_user: str, gateway_password: str,
              target: str, user: str, password: str, timeout: float) -> bool:
    """Does a password login as *user* on *target* (port 22, through the gateway) succeed?

    ``False`` when the host refuses the credentials; ``SshUnavailable`` when
    no answer could be had (the gateway's own login failing included: that
    says nothing about the host).
    """
    gateway, host = _client(), _client()
    channel: paramiko.Channel | None = None
    try:
        try:
            gateway.connect(gateway_host, port=gateway_port, username=gateway_user,
                            password=gateway_password, **_options(timeout))
        except paramiko.AuthenticationException as exc:
            raise SshUnavailable(f"the gateway refused the team's account ({exc})") from None
        transport = gateway.get_transport()
        if transport is None:
            raise SshUnavailable("the gateway closed the connection")
        channel = transport.open_channel("direct-tcpip", (target, 22), ("127.0.0.1", 0), timeout=timeout)
        try:
            host.connect(target, sock=channel, username=user, password=password, **_options(timeout))
        except paramiko.AuthenticationException:
            return False
        return True
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise SshUnavailable(f"SSH to {target} through the gateway failed: {_why(exc)}") from None
    finally:
        host.close()
        if channel is not None:
            channel.close()
        gateway.close()


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
