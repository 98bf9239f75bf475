"""Pure scoring functions: decay, availability and answer matching."""
from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from scoring import answers
from scoring.formulas import DECAY_FORMULAS, availability_points, decayed_points


@pytest.mark.parametrize(
    ("name", "minutes", "expected"),
    [
        ("none", 0, 100), ("none", 500, 100),
        ("linear", 0, 100), ("linear", 30, 75), ("linear", 60, 50), ("linear", 600, 50),
        ("exponential", 0, 100), ("exponential", 60, 50), ("exponential", 120, 50),
        ("step", 60, 100), ("step", 61, 50),
    ],
)
def test_decay(name: str, minutes: float, expected: int) -> None:
    assert decayed_points(name, 100, minutes, window=60, floor=0.5) == expected


def test_exponential_decay_halves_per_window_until_the_floor() -> None:
    assert decayed_points("exponential", 100, 60, window=60, floor=0.1) == 50
    assert decayed_points("exponential", 100, 120, window=60, floor=0.1) == 25
    assert decayed_points("exponential", 100, 10_000, window=60, floor=0.1) == 10


def test_decay_never_increases_and_stays_within_bounds() -> None:
    for name in DECAY_FORMULAS:
        points = [decayed_points(name, 80, m, window=45, floor=0.25) for m in range(0, 300, 5)]
        assert points == sorted(points, reverse=True), name
        assert all(20 <= p <= 80 for p in points), name


def test_negative_elapsed_time_counts_as_zero_and_bad_floor_is_refused() -> None:
    assert decayed_points("linear", 100, -5, window=60, floor=0.5) == 100
    with pytest.raises(ValueError):
        decayed_points("linear", 100, 5, window=60, floor=1.5)


def test_availability_with_grace() -> None:
    assert availability_points(True, 0, points=2, penalty=3, grace=2) == 2
    assert availability_points(False, 1, points=2, penalty=3, grace=2) == 0
    assert availability_points(False, 2, points=2, penalty=3, grace=2) == 0
    assert availability_points(False, 3, points=2, penalty=3, grace=2) == -3


@pytest.mark.parametrize(
    ("answer", "value"),
    [("ｗｓ０１", "ws01"), ("  WS01 ", "ws01"), ("Update.Minato-CDN.example", "update.minato-cdn.example"),
     ("税務課　端末", "税務課 端末"), ("ﾊﾟｽﾜｰﾄﾞ", "パスワード")],
)
def test_exact_matching_normalises(answer: str, value: str) -> None:
    assert answers.matches_exact(answer, value)


def test_exact_matching_is_not_a_substring_match() -> None:
    assert not answers.matches_exact("ws01 and ws02", "ws01")
    assert not answers.matches_exact("", "ws01")


def test_regex_one_of_and_all_of() -> None:
    assert answers.matches_regex("/var/www/html/uploads/img_2024.php", r"/var/www/html/uploads/img_\d+\.php")
    assert not answers.matches_regex("x/var/www/html/uploads/img_1.php", r"/var/www/html/uploads/img_\d+\.php")
    assert answers.matches_one_of("Ｃｒｏｎ", ["cron", "crontab"])
    assert not answers.matches_one_of("systemd", ["cron", "crontab"])
    assert answers.matches_all_of("ws02、ws01", ["ws01", "ws02"])
    assert answers.matches_all_of("ws01\nws02", ["ws01", "ws02"])
    assert not answers.matches_all_of("ws01", ["ws01", "ws02"])
    assert not answers.matches_all_of("ws01, ws02, ws03", ["ws01", "ws02"])


@dataclass(frozen=True)
class Rule:
    match: str
    values: list[str]


@pytest.mark.parametrize(
    ("rule", "given", "accepted"),
    [
        (Rule("exact", ["ws01", "ws-01"]), "ＷＳ－０１", True), (Rule("exact", ["ws01"]), "ws02", False),
        (Rule("one_of", ["cron", "crontab"]), " Crontab ", True),
        (Rule("regex", [r"ws0[1-3]", r"pc\d+"]), "PC42", True), (Rule("regex", [r"ws0[1-3]"]), "ws04", False),
        (Rule("all_of", ["ws01", "ws02"]), "ws02、ｗｓ０１", True), (Rule("all_of", ["ws01", "ws02"]), "ws01", False),
        (Rule("regex", ["(unclosed"]), "(unclosed", False), (Rule("fuzzy", ["ws01"]), "ws01", False),
    ],
)
def test_accepts_follows_the_rule(rule: Rule, given: str, accepted: bool) -> None:
    assert answers.accepts(rule, given) is accepted


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)+$", r"(a|a)+$"])
def test_a_catastrophic_pattern_is_no_match_within_a_second(pattern: str) -> None:
    started = time.monotonic()
    assert not answers.accepts(Rule("regex", [pattern]), "a" * 40 + "b")
    assert time.monotonic() - started < 5  # stopped near REGEX_TIMEOUT (0.5 s); unbounded, it would run for hours


def test_the_regex_timeout_is_what_stops_a_runaway_pattern() -> None:
    started = time.monotonic()
    assert not answers.matches_regex("a" * 40 + "b", r"(a|aa)+$", timeout=0.05)
    assert time.monotonic() - started < 5
