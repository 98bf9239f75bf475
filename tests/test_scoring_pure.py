"""Pure scoring functions: decay, availability and answer matching."""
from __future__ import annotations

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
