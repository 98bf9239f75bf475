"""The user accounts each role image has (read from the built images' /etc/passwd).

Used by the scenario validator (no Docker there) to know that a file's owner
exists on a host. Measured from the images as built at this commit: every
image has Debian's base users and sshd, some roles have their services' users.
"""
from __future__ import annotations

DEBIAN_BASE = (
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
    "www-data", "backup", "list", "irc", "_apt", "nobody", "sshd",
)
ROLE_USERS: dict[str, tuple[str, ...]] = {
    "database": ("mysql",),
    "dns": ("dnsmasq",),
    "mail": ("postfix", "dovecot", "dovenull"),
    "router": ("tcpdump",),
}


def accounts(image: str) -> frozenset[str] | None:
    """The users of role image *image*; ``None`` when the image is unknown."""
    from range.images import available_images

    if image not in available_images():
        return None
    return frozenset(DEBIAN_BASE + ROLE_USERS.get(image, ()))
