"""Password slips: each prints where to log in, as text and as a QR code a phone can read.

The QR code is read back the way a phone would: the SVG on the page is turned
into a picture module by module and decoded by an independent reader (zxing-cpp),
which must find exactly the printed URL.
"""
from __future__ import annotations

import dataclasses
import re
from html import unescape

import pytest
import zxingcpp
from flask import Flask
from PIL import Image
from sqlalchemy.orm import Session

from app.models import Exercise, Role
from app.services import slips, staff
from app.settings import Settings
from tests.factories import make_exercise, make_user
from tests.test_roster import ENCODINGS, upload

PIXELS = 6  # per module, for the reader


def decode_svg(svg: str) -> str:
    """Draw the modules of a segno SVG (one ``<path>`` of horizontal runs) and decode the picture."""
    width = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    scale = int(re.search(r'scale\((\d+)\)', svg).group(1))  # type: ignore[union-attr]
    path = re.search(r' d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    size = width // scale
    image = Image.new("L", (size * PIXELS, size * PIXELS), 255)
    x = y = 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:  # a dark run of a modules on row y - 0.5
            row = int(y)
            for column in range(int(x), int(x + float(a))):
                image.paste(0, (column * PIXELS, row * PIXELS, (column + 1) * PIXELS, (row + 1) * PIXELS))
            x += float(a)
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, "exactly one QR code"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


def svg_of(drawing: slips.QrDrawing) -> str:
    return f'<svg width="{drawing.pixels}"><path transform="scale({drawing.scale})" d="{drawing.path}"/></svg>'


def test_the_qr_code_reads_back_as_the_url() -> None:
    url = "https://mamori.example.lg.jp/kenshu/login"
    assert decode_svg(svg_of(slips.qr_drawing(url))) == url
    assert decode_svg(svg_of(slips.qr_drawing("http://localhost/login"))) == "http://localhost/login"


def test_login_url_joins_the_root_and_the_path() -> None:
    assert slips.login_url("https://mamori.example.lg.jp/", "/login") == "https://mamori.example.lg.jp/login"
    assert slips.login_url("http://10.0.0.5:8000/mamori", "/login") == "http://10.0.0.5:8000/mamori/login"


@pytest.fixture(params=[None, "https://mamori.example.lg.jp/kenshu"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Without MAMORI_PUBLIC_URL (the request's own host), and with it."""
    return dataclasses.replace(settings, public_url=request.param)


def slip_items(html: str) -> list[str]:
    return re.findall(r'<li class="slip">(.*?)</li>', html, re.S)


def test_every_slip_prints_the_login_url_and_its_qr_code(
        app: Flask, db: Session, auth, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    exercise = make_exercise(db, teams=2)
    make_user(db, role=Role.INSTRUCTOR, login="sensei")
    staff.add(db, db.get(Exercise, exercise.id), "sensei", actor=None)
    db.commit()
    assert auth.login("sensei").status_code == 302

    response = upload(auth._client, exercise.id, ENCODINGS["utf-8"])

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    expected = (settings.public_url or "http://localhost") + "/login"
    items = slip_items(html)
    assert len(items) == 3
    for item in items:
        assert unescape(re.search(r'class="slip-url">([^<]+)<', item).group(1)) == expected  # type: ignore[union-attr]
        svg = re.search(r"<svg.*?</svg>", item, re.S).group(0)  # type: ignore[union-attr]
        assert decode_svg(svg) == expected
    assert "〇〇市役所 情報政策課" in items[0], "the slip names the trainee's organisation"
    assert "ログインURL" in html
