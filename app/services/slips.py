"""What a password slip prints besides the login and password: where to log in, as text and as a QR code.

The QR code is drawn here, on the server, as inline SVG (``segno``): no
script, no network, and it prints like the rest of the page.
"""
from __future__ import annotations

from dataclasses import dataclass

import segno

QR_SCALE = 3  # pixels per module: about 3 cm for a short URL, easy for a phone camera on paper


@dataclass(frozen=True)
class LoginSlip:
    url: str  # the login page, as printed
    qr_svg: str  # an <svg> element encoding exactly ``url``


def login_url(root: str, path: str = "/login") -> str:
    """The login page under *root* (``MAMORI_PUBLIC_URL``, or the request's own root URL)."""
    return root.rstrip("/") + "/" + path.lstrip("/")


def qr_svg(data: str) -> str:
    """An inline SVG QR code of *data* (error correction M: readable with a fold or a smudge on the slip)."""
    return segno.make(data, error="m", micro=False).svg_inline(scale=QR_SCALE, svgclass="slip-qr-code")


def login_slip(url: str) -> LoginSlip:
    return LoginSlip(url=url, qr_svg=qr_svg(url))
