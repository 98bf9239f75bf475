"""A value of the wrong shape is explained in words with an example, never as a raw regular expression."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from app.scenario.validate import validate_file

MINIMAL = Path(__file__).resolve().parent / "scenarios" / "valid" / "minimal.yaml"


def _host(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["network"]["hosts"][0]


def _http_check(doc: dict[str, Any]) -> None:
    doc["checks"].append({"id": "site", "type": "http", "title": {"ja": "サイト", "en": "Site"},
                          "params": {"from": "ws01", "url": "https://ws01/index.html"},
                          "scoring": {"mode": "availability", "points_per_round": 1}})


# (what the author wrote wrong, the field's path in the message, words the message must hold)
CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "url": (_http_check, ".url: 'https://ws01/index.html' is not a URL the range can reach",
            "e.g. http://www01/login.php"),
    "file-path": (lambda d: _host(d).update(files=[{"path": "var/www/x", "content": "x"}]), "files[0].path",
                  "is not an absolute path: it starts with '/', e.g. /var/www/html/index.html"),
    "file-mode": (lambda d: _host(d).update(files=[{"path": "/x", "content": "x", "mode": "rwx"}]), "files[0].mode",
                  "is not a file mode: three or four octal digits"),
    "file-source": (lambda d: _host(d).update(files=[{"path": "/x", "source": "my site/a b.html"}]),
                    "files[0].source", "is not a path in the scenario's folder"),
    "package": (lambda d: d.update(images=[{"id": "web-extra", "from": "webserver", "packages": ["PHP_SQLite"]}]),
                "images[0].packages[0]", "is not a Debian package name"),
    "variable-id": (lambda d: d.update(variables=[{"id": "C2-Domain", "values": ["a", "b"]}]), "variables[0].id",
                    "is not a variable or parameter name"),
    "header-value": (lambda d: (_http_check(d), d["checks"][-1]["params"].update(
        url="http://ws01/", headers={"User-Agent": "職員ブラウザ"})), "headers.User-Agent",
        "is not an HTTP header value: printable ASCII only"),
    "header-name": (lambda d: (_http_check(d), d["checks"][-1]["params"].update(
        url="http://ws01/", headers={"User Agent": "x"})), "headers.User Agent", "is not an HTTP header name"),
    "owner": (lambda d: _host(d).update(files=[{"path": "/x", "content": "x", "owner": "Staff"}]), "files[0].owner",
              "is not a Unix account name"),
}


def problems_after(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> list[str]:
    document = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return [str(p) for p in validate_file(path).problems]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_pattern_error_is_in_words(name: str, tmp_path: Path) -> None:
    change, where, words = CASES[name]
    found = problems_after(tmp_path, change)
    mine = [p for p in found if where in p]
    assert mine, found
    assert words in mine[0], mine[0]
    message = mine[0].split(where, 1)[1]
    assert "^" not in message and "[" not in message and "pattern" not in message, mine[0]


@pytest.mark.parametrize("value", [0.3, -5, "half"])
def test_passive_at_most_is_said_to_be_in_points(value: object, tmp_path: Path) -> None:
    found = problems_after(tmp_path, lambda d: d.update(expectations={"passive_at_most": value}))
    mine = [p for p in found if "expectations.passive_at_most" in p]
    assert len(mine) == 1 and "is in points" in mine[0], found


def test_passive_at_most_in_points_is_accepted(tmp_path: Path) -> None:
    assert problems_after(tmp_path, lambda d: d.update(expectations={"passive_at_most": 50})) == []


def test_the_json_schema_says_passive_at_most_is_in_points() -> None:
    from app.scenario.model import Expectations
    described = Expectations.model_json_schema()["properties"]["passive_at_most"]
    assert "In points" in described["description"] and described["minimum"] == 0


@pytest.mark.parametrize(("headers", "words"), [
    ({"Host": "evil.example"}, "the probe sets Host itself"),
    ({"connection": "keep-alive"}, "the probe sets connection itself"),
    ({f"X-H{i}": "v" for i in range(11)}, "at most 10 headers"),
    ({"X-A": "1", "x-a": "2"}, "a header is given twice"),
])
def test_http_check_headers_have_sane_limits(headers: dict[str, str], words: str, tmp_path: Path) -> None:
    found = problems_after(tmp_path, lambda d: (_http_check(d), d["checks"][-1]["params"].update(
        url="http://ws01/", headers=headers)))
    assert len(found) == 1 and words in found[0], found


def test_http_check_headers_in_range_are_accepted(tmp_path: Path) -> None:
    assert problems_after(tmp_path, lambda d: (_http_check(d), d["checks"][-1]["params"].update(
        url="http://ws01/", headers={"User-Agent": "Mozilla/5.0 (compatible)", "Referer": "http://ws01/"}))) == []
