"""Recognising a character's request in a team's free text, and expanding its actions (pure: no database)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from app.scenario import requests as matching
from app.scenario.model import Character, CharacterRequest, Scenario

MINIMAL = Path(__file__).resolve().parent / "scenarios" / "valid" / "minimal.yaml"

HOSTS = [
    {"id": "ws02", "name": {"ja": "職員端末2", "en": "Workstation 2"}, "image": "workstation", "segments": ["office"]},
    {"id": "ws012", "name": {"ja": "職員端末12", "en": "Workstation 12"}, "image": "workstation",
     "segments": ["office"]},
]
VENDOR = {
    "id": "vendor", "kind": "vendor", "name": {"ja": "みなとシステム保守", "en": "Minato System Support"},
    "title": {"ja": "保守担当", "en": "Support engineer"},
    "requests": [
        {"id": "isolate", "label": {"ja": "端末の隔離", "en": "Isolate a host"},
         "params": [{"id": "host", "type": "host", "label": {"ja": "端末", "en": "Host"}}],
         "match": {"keywords": [["隔離", "isolate", "カクリ"]]},
         "reply": {"ja": "{host} を隔離しました。", "en": "{host} is isolated."},
         "actions": [{"type": "isolate", "params": {"host": "{host}"}},
                     {"type": "write_file", "params": {"host": "{host}", "path": "/var/tmp/isolated-{host}",
                                                       "content": "isolated by {host}'s vendor {not-a-param}"}}],
         "attach": [{"name": "{host}-syslog.txt", "host": "{host}", "path": "/var/log/syslog"}]},
        {"id": "logs", "label": {"ja": "ログの提供", "en": "Send the logs"},
         "match": {"keywords": ["ログ", ["送って", "提供", "send"]]},
         "reply": {"ja": "お送りします。", "en": "Here they are."}},
        {"id": "block", "label": {"ja": "通信の遮断", "en": "Block traffic"},
         "params": [{"id": "direction", "type": "choice", "label": {"ja": "向き", "en": "Direction"},
                     "choices": [{"id": "inbound", "label": {"ja": "受信", "en": "Incoming"}},
                                 {"id": "outbound", "label": {"ja": "送信", "en": "Outgoing"}}]},
                    {"id": "host", "type": "host", "label": {"ja": "端末", "en": "Host"}, "hosts": ["ws01", "ws02"],
                     "required": False}],
         "match": {"patterns": [r"(遮断|block)\w*\s*(の|を)?\s*(依頼|お願い|please)", "(.*a){12}x"]},
         "reply": {"ja": "{direction} を遮断しました。", "en": "{direction} is blocked."}},
        {"id": "notify", "label": {"ja": "届出", "en": "Notify"},
         "params": [{"id": "summary", "type": "text", "label": {"ja": "概要", "en": "Summary"}}],
         "match": {"keywords": [["届出", "届け出"]]},
         "reply": {"ja": "受理しました：{summary}", "en": "Received: {summary}"}},
    ],
}


@pytest.fixture(scope="module")
def model() -> Scenario:
    document = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    document["network"]["hosts"][0]["aliases"] = ["pc-soumu01"]
    document["network"]["hosts"] += HOSTS
    document["story"]["characters"].append(VENDOR)
    return Scenario.model_validate(document)


@pytest.fixture(scope="module")
def vendor(model: Scenario) -> Character:
    return next(c for c in model.story.characters if c.id == "vendor")


def request(vendor: Character, request_id: str) -> CharacterRequest:
    return next(r for r in vendor.requests if r.id == request_id)


@pytest.mark.parametrize(("written", "read"), [
    ("ＷＳ０１", "ws01"), ("ｗｓ０１", "ws01"), ("Ws01", "ws01"), ("WS01", "ws01"),
    ("ｶｸﾘ", "カクリ"), ("ﾛｸﾞ", "ログ"), ("職員端末１", "職員端末1"),
    ("  ws01\u3000を\n\t隔離  ", "ws01 を 隔離"),
])
def test_text_is_read_nfkc_and_case_folded(written: str, read: str) -> None:
    assert matching.normalise(written) == read


@pytest.mark.parametrize(("request_id", "text", "expected"), [
    ("isolate", "ＷＳ０１を隔離してください", True),
    ("isolate", "Please ISOLATE ws01", True),
    ("isolate", "ws01 をｶｸﾘしてください", True),  # half-width katakana
    ("isolate", "ws01 の様子を見てください", False),
    ("logs", "ログを送ってください", True),  # every item: ログ, and one of the group
    ("logs", "ﾛｸﾞの提供をお願いします", True),
    ("logs", "Please SEND the ログ", True),
    ("logs", "ログを見ました", False),  # the group is not satisfied
    ("logs", "送ってください", False),  # ログ is missing
    ("block", "外向き通信の遮断をお願いします", True),  # a pattern
    ("block", "ＢＬＯＣＫ please", True),
    ("block", "遮断しました", False),
    ("notify", "被害の届け出です", True),
])
def test_keywords_all_of_with_any_of_groups_and_patterns(vendor: Character, request_id: str, text: str,
                                                         expected: bool) -> None:
    assert matching.matches(request(vendor, request_id), text) is expected


def test_a_runaway_pattern_gives_up_in_time_and_the_next_pattern_still_counts(vendor: Character) -> None:
    block = request(vendor, "block")
    started = time.perf_counter()
    assert matching.matches(block, "a" * 300) is False  # the second pattern backtracks: it times out
    assert time.perf_counter() - started < matching.PATTERN_TIMEOUT * 4
    assert matching.matches(block, "a" * 300 + " 遮断をお願い") is True


@pytest.mark.parametrize(("text", "host"), [
    ("ＷＳ０２を隔離してください", "ws02"),  # the id, full-width
    ("pc-soumu01 を隔離して", "ws01"),  # an alias
    ("職員端末２を隔離してください", "ws02"),  # the Japanese name
    ("please isolate workstation 2", "ws02"),  # the English name
    ("ws012 を隔離", "ws012"),  # "ws01" is not found inside "ws012"
    ("職員端末12を隔離", "ws012"),  # nor 職員端末1 inside 職員端末12
    ("ws01.を隔離", "ws01"),
])
def test_a_host_parameter_is_found_by_id_alias_or_name(model: Scenario, vendor: Character, text: str,
                                                       host: str) -> None:
    found = matching.recognise(vendor, text, model)
    assert found is not None and found.request.id == "isolate"
    assert found.params == {"host": host} and found.missing == ()


@pytest.mark.parametrize("text", ["ws01 と ws02 を隔離してください", "端末を隔離してください",
                                  "attacker を隔離して"])  # two hosts, none, a hidden one (not offered)
def test_an_unsettled_host_leaves_the_parameter_missing(model: Scenario, vendor: Character, text: str) -> None:
    found = matching.recognise(vendor, text, model)
    assert found is not None and found.request.id == "isolate"
    assert found.missing == ("host",) and "host" not in found.params  # → the white cell decides


def test_choice_parameters_are_found_by_label_and_optional_ones_may_stay_open(model: Scenario,
                                                                              vendor: Character) -> None:
    found = matching.recognise(vendor, "送信の遮断をお願いします", model)
    assert found is not None and found.request.id == "block"
    assert found.params == {"direction": "outbound"} and found.missing == ()
    found = matching.recognise(vendor, "ws02 の受信の遮断をお願いします", model)
    assert found is not None and found.params == {"direction": "inbound", "host": "ws02"}
    found = matching.recognise(vendor, "遮断をお願いします", model)
    assert found is not None and found.missing == ("direction",)


def test_a_text_parameter_takes_the_message(model: Scenario, vendor: Character) -> None:
    found = matching.recognise(vendor, "  被害の届出です。ws01 が感染しました。  ", model)
    assert found is not None and found.request.id == "notify"
    assert found.params == {"summary": "被害の届出です。ws01 が感染しました。"}
    long = matching.recognise(vendor, "届出 " + "あ" * 600, model)
    assert long is not None and len(long.params["summary"]) == 500


def test_nothing_recognised_is_none(model: Scenario, vendor: Character) -> None:
    assert matching.recognise(vendor, "こんにちは、調子はいかがですか", model) is None


@pytest.mark.parametrize(("request_id", "values", "problems"), [
    ("isolate", {"host": "ws02"}, []),
    ("isolate", {}, ["host is required"]),
    ("isolate", {"host": "attacker"}, ["host: 'attacker' is not one of ws01, ws02, ws012"]),  # hidden
    ("isolate", {"host": "ws01", "user": "root"}, ["unknown parameter 'user'"]),
    ("block", {"direction": "sideways"}, ["direction: 'sideways' is not one of inbound, outbound"]),
    ("block", {"direction": "inbound", "host": "ws012"}, ["host: 'ws012' is not one of ws01, ws02"]),
    ("block", {"direction": "inbound"}, []),  # host is optional
    ("notify", {"summary": "x" * 501}, ["summary is longer than 500 characters"]),
    ("notify", {"summary": "   "}, ["summary is required"]),
])
def test_check_values(model: Scenario, vendor: Character, request_id: str, values: dict[str, str],
                      problems: list[str]) -> None:
    assert matching.check_values(request(vendor, request_id), values, model) == problems


def test_expand_actions_puts_the_values_in_and_leaves_other_braces(model: Scenario, vendor: Character) -> None:
    isolate, write = matching.expand_actions(request(vendor, "isolate"), {"host": "ws012"}, model)
    assert (isolate.type, isolate.params.host) == ("isolate", "ws012")
    assert (write.params.host, write.params.path) == ("ws012", "/var/tmp/isolated-ws012")
    assert write.params.content == "isolated by ws012's vendor {not-a-param}"
    [attachment] = matching.expand_attachments(request(vendor, "isolate"), {"host": "ws012"}, model)
    assert (attachment.name, attachment.host, attachment.path) == ("ws012-syslog.txt", "ws012", "/var/log/syslog")
    assert matching.fill("{host} {unknown} {}", {"host": "ws01"}) == "ws01 {unknown} {}"


@pytest.mark.parametrize("values", [{"host": "attacker"}, {"host": "nosuch"}, {"host": "ws01", "path": "/etc"}])
def test_a_tampered_value_expands_nothing(model: Scenario, vendor: Character, values: dict[str, str]) -> None:
    isolate = request(vendor, "isolate")
    assert matching.not_offered(isolate, values, model)
    with pytest.raises(matching.NotOffered):
        matching.expand_actions(isolate, values, model)
    with pytest.raises(matching.NotOffered):
        matching.expand_attachments(isolate, values, model)


def test_every_combination_the_validator_expands(model: Scenario, vendor: Character) -> None:
    assert list(matching.combinations(request(vendor, "block"), model)) == [
        {"direction": d, "host": h} for d in ("inbound", "outbound") for h in ("ws01", "ws02")]
    assert list(matching.validation_problems(request(vendor, "isolate"), model)) == []
    assert sorted(set(matching.placeholders(VENDOR["requests"][0]["actions"]))) == ["host"]
