"""The after-action report (講評): attack beside the team's actions, score, model answers, comments — page and PDF."""
from __future__ import annotations

import io
import re
import zlib

import pypdf

from flask.testing import FlaskClient

from app.models import ReportStatus
from app.services import exports, ledger, reports, tasks
from tests.factories import add_member, make_user
from tests.test_review import ADJUSTMENT, COMMENT, PROMPT_JA, REPORT, TASK, World, at, page
from tests.test_review import staff, world  # noqa: F401  (the fixtures)


def aar(client: FlaskClient, world: World, number: int = 1) -> str:
    return page(client, f"/review/exercises/{world.exercise.id}/teams/{number}/aar")


def section(html: str, heading: str) -> str:
    """The HTML from the <h2> *heading* to the next <h2>."""
    start = html.index(f"<h2>{heading}</h2>")
    end = html.find("<h2>", start + 1)
    return html[start:end if end > 0 else None]


def test_the_attack_timeline_sits_beside_the_team_s_actions_in_time_order(staff, world) -> None:  # type: ignore[no-untyped-def]
    timeline = section(aar(staff, world), "攻撃とチームの対応")
    steps = [
        "不審な通信の開始",  # 00:10 the beacon starts (attack side)
        "チェック不合格：不審な通信の停止",  # 00:10:30 the check sees it
        "警察からの通報",  # 00:20 the police call (attack side)
        "ヒント 1 を使用（-10）",  # 00:20:50
        "「ws02」と解答（1 回目）",  # 00:21 wrong
        "職員端末1 に staff でターミナル接続",  # 00:21:40, 2 minutes
        "「ｗｓ０１」と解答（2 回目）",  # 00:25 right
        "チェック回復：不審な通信の停止",  # 00:27:30
        "第一報 を提出（第 1 版）",  # 00:30
        "第一報 第 1 版を採点：15 点",
        f"講師による加減点 +5：{ADJUSTMENT}",
    ]
    positions = [timeline.find(step) for step in steps]
    assert -1 not in positions, [s for s, p in zip(steps, positions) if p < 0]
    assert positions == sorted(positions), "in the order they happened"
    assert "30 秒ごとに攻撃者へ通信するプロセスが起動しました" in timeline, "each inject with its debrief text"
    assert "1 日目 00:10" in timeline and "2026/11/27 9:10" in timeline, "exercise time and Tokyo time"
    assert "2 分 00 秒" in timeline and "佐藤 花子" in timeline, "the terminal's length and who opened it"


def test_model_answers_rubric_and_the_instructor_s_comments(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    html = aar(staff, world)
    answers = section(html, "模範解答")
    assert "模範解答： <span class=\"aar-model\">ws01</span>" in answers
    assert "ws01 で curl が 30 秒ごとに攻撃者のサーバへ接続していました。" in answers
    assert "このチーム： 正解" in answers and "2 回解答" in answers and "+35" in answers
    assert "pkill -f &#34;curl -s http://update.minato-cdn&#34;" in answers, "the model response's command"
    assert "影響範囲：ws01 のみ" in answers and "報告書を提出： 第一報" in answers, "the model report"
    assert f"設問に解答： {PROMPT_JA} → <code>ｗｓ０１</code>" in answers
    assert "合計：20 点中 15 点" in answers and "影響範囲を特定している" in answers
    comments = section(html, "講師のコメント")
    assert COMMENT in comments and ADJUSTMENT in comments and "山田講師" in comments
    assert "第一報 第 1 版：採点" in comments and "加減点 +5" in comments
    total = ledger.sums(db, world.exercise)[world.teams[0].id]
    assert f"<td class=\"num\"><strong>{total}</strong></td>" in section(html, "得点の内訳")


def test_a_sent_back_report_and_a_quiet_team(staff, world) -> None:  # type: ignore[no-untyped-def]
    two = aar(staff, world, 2)
    assert "第一報 第 1 版を差し戻し" in section(two, "攻撃とチームの対応")
    assert "影響範囲が書かれていません。" in section(two, "講師のコメント")
    assert "第一報 第 1 版：修正依頼" in two
    three = aar(staff, world, 3)
    actions = section(three, "攻撃とチームの対応")
    assert "不審な通信の開始" in actions and "解答" not in actions
    assert "コメントはまだありません。" in three and "このチーム： 未解答" in three


def test_the_team_s_own_reports_are_quoted_with_version_time_grade_and_comment(staff, db, world) -> None:  # type: ignore[no-untyped-def]
    graded = section(aar(staff, world), "チームの報告書")
    assert "影響範囲: ws01 のみ" in graded, "the text the team handed in"
    assert "第 1 版、1 日目 00:30 に提出 (2026/11/27 9:30)" in graded
    assert "採点：20 点中 15 点" in graded and "山田講師" in graded and COMMENT in graded
    assert "期限超過" not in graded, "handed in 10 minutes after the police call: on time"
    sent_back = section(aar(staff, world, 2), "チームの報告書")
    assert "不明" in sent_back and "修正依頼" in sent_back and "影響範囲が書かれていません。" in sent_back
    # A report handed in late and never graded: flagged, and said to be waiting.
    late = reports.submit(db, world.exercise, world.teams[2], trainee_of(db, world.teams[2]), REPORT,
                          text="第三班の第一報（遅延）", now=at(3300))
    db.commit()
    assert late.status is ReportStatus.SUBMITTED
    third = section(aar(staff, world, 3), "チームの報告書")
    assert "第三班の第一報（遅延）" in third and "期限超過（5分遅れ）" in third and "まだ採点されていません。" in third


def trainee_of(db, team):  # type: ignore[no-untyped-def]
    user = make_user(db, login=f"member-of-{team.number}")
    add_member(db, team, user)
    return user


def test_what_trainees_typed_is_shown_as_text(db, staff, world) -> None:  # type: ignore[no-untyped-def]
    team = world.teams[2]
    mallory = make_user(db, login="mallory")
    add_member(db, team, mallory)
    tasks.submit_answer(db, world.exercise, team, mallory, TASK, "<script>alert(1)</script>", now=at(3000))
    db.commit()
    html = aar(staff, world, 3)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_is_english_on_request(staff, world) -> None:  # type: ignore[no-untyped-def]
    staff.get("/lang/en")
    html = aar(staff, world)
    assert "The attack beside the team's actions" in html and "Beacon starts" in html
    assert "Model answer:" in html and "On ws01, curl called" in html
    assert "不審な通信の開始" not in html


# --- the PDF ---------------------------------------------------------------------------------------------------


def inflated(pdf: bytes) -> bytes:
    """The PDF with every Flate stream decompressed (object streams hide the font dictionaries)."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


def test_the_pdf_embeds_the_ipaex_font(staff, world) -> None:  # type: ignore[no-untyped-def]
    response = staff.get(f"/review/exercises/{world.exercise.id}/teams/1/aar.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert 'filename="aar-exercise' in response.headers["Content-Disposition"]
    pdf = response.data
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    body = inflated(pdf)
    assert b"/FontFile2" in body, "a TrueType font file is embedded"
    assert re.search(rb"/FontName\s*/[A-Z]{6}\+IPAexGothic", body), "the embedded font is an IPAex Gothic subset"
    assert b"/Type /Page" in body or b"/Type/Page" in body


def test_the_pdf_carries_the_team_s_report_text_and_grade(staff, world) -> None:  # type: ignore[no-untyped-def]
    response = staff.get(f"/review/exercises/{world.exercise.id}/teams/1/aar.pdf")
    assert response.status_code == 200
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.data)).pages)
    flat = re.sub(r"\s+", "", text)
    assert "チームの報告書" in flat
    assert "影響範囲:ws01のみ" in flat, "the report's own words, as the team wrote them"
    assert "採点：20点中15点" in flat and re.sub(r"\s+", "", COMMENT) in flat


def test_without_the_font_the_pdf_says_what_to_install(staff, world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(exports, "KNOWN_FONT_FILES", ())
    monkeypatch.setattr(exports.shutil, "which", lambda name: None)
    response = staff.get(f"/review/exercises/{world.exercise.id}/teams/1/aar.pdf")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "apt-get install fonts-ipaexfont-gothic" in html and "IPAex ゴシック" in html
