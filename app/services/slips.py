"""What a password slip prints besides the login and password: where to log in, as text and as a QR code.

The QR code is made here, on the server (``segno``), and drawn by the template as
inline SVG: no script, no network, and it prints like the rest of the page.
"""
from __future__ import annotations

from dataclasses import dataclass

import segno

QR_SCALE = 3  # pixels per module: about 3 cm for a short URL, easy for a phone camera on paper
QUIET_ZONE = 4  # light modules around the code, as the QR standard asks


@dataclass(frozen=True)
class QrDrawing:
    """A QR code as the slip's template draws it in SVG (nothing marked safe: numbers and a path of runs)."""

    size: int  # modules across, quiet zone included
    path: str  # the dark modules: one "M x y h n" run per stretch of a row, y at the row's middle
    scale: int = QR_SCALE

    @property
    def pixels(self) -> int:
        return self.size * self.scale


@dataclass(frozen=True)
class LoginSlip:
    url: str  # the login page, as printed
    qr: QrDrawing  # encodes exactly ``url``


def login_url(root: str, path: str = "/login") -> str:
    """The login page under *root* (``MAMORI_PUBLIC_URL``, or the request's own root URL)."""
    return root.rstrip("/") + "/" + path.lstrip("/")


def qr_drawing(data: str) -> QrDrawing:
    """The QR code of *data* (error correction M: readable with a fold or a smudge on the slip)."""
    matrix = segno.make(data, error="m", micro=False).matrix
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            runs.append(f"M{start + QUIET_ZONE} {y + QUIET_ZONE + 0.5}h{x - start}")
    return QrDrawing(size=len(matrix) + 2 * QUIET_ZONE, path="".join(runs))


def login_slip(url: str) -> LoginSlip:
    return LoginSlip(url=url, qr=qr_drawing(url))
