"""YAML syntax errors an author can fix: line and column, a hint in words, and every independent error at once.

A parser stops at the first error. To report the others, the text is read
again in pieces: the blocks that share one indentation are parsed alone
(dedented), and only a block that fails is opened further, so a file with
three bad lines gets three problems and a good block is never blamed.
"""
from __future__ import annotations

import re
from typing import Callable

import yaml

Found = tuple[int, int | None, str]  # 1-based line, 1-based column (None: unknown), message
Parse = Callable[[str], None]  # raises yaml.YAMLError on a syntax error
MAX_FOUND = 20

_BLOCK_SCALAR = re.compile(r"[|>][-+0-9]*\s*(#.*)?$")
_KEY_BEFORE = re.compile(r"(^|\s|[{,\[])[^\s:#][^:#]*:\s")

COLON = ("the value contains ': ' (a colon and a space), which YAML reads as a new key; "
         "put the whole value in quotes, e.g. ja: \"注意: …\" "
         "(値に「: 」が含まれています。値全体を引用符 \"…\" で囲んでください)")
COLON_FLOW = ("a value inside {…} or […] contains ': ', which YAML reads as a new key; put that value in "
              "quotes, e.g. {ja: \"攻撃元を答えよ（例: xxx.php）\", en: \"…\"} "
              "(値に「: 」が含まれています。値全体を引用符 \"…\" で囲んでください)")
QUESTION = ("a value inside {…} or […] contains '?', which other YAML parsers (PyYAML's SafeLoader, many editors "
            "and linters) read as a key marker; put that value in quotes, e.g. {en: \"Are we safe overnight?\"} "
            "(値に「?」が含まれています。値全体を引用符 \"…\" で囲んでください)")
TAB = ("a tab is used for indentation; YAML indents with spaces only: replace the tab with spaces "
       "(インデントにタブが使われています。空白に置き換えてください)")
INDENT = ("the indentation does not match: keys of one mapping and '-' items of one list start in the same "
          "column, and a line indented deeper than its key is read as part of that key's value "
          "(インデントが揃っていません。同じ階層のキーや「-」は同じ列から始めてください)")
AFTER_QUOTE = ("there is text after the closing quote; put the whole value inside the quotes "
               "(引用符の後ろに文字があります。値全体を引用符で囲んでください)")
NO_COLON = ("a line in a mapping is not of the form 'key: value' (a ':' is missing, or the line is indented "
            "wrongly) (「キー: 値」の形になっていない行があります)")
BAD_START = ("a value cannot start with '@' or '`'; put it in quotes "
             "(「@」や「`」で始まる値は引用符で囲んでください)")
BLOCK = ("after | or > only '-', '+' or a digit may follow on the same line; write the text on the next lines, "
         "indented (| や > の後の本文は次の行から、字下げして書いてください)")
UNCLOSED_QUOTE = ("close it at the end of the value; a quote inside the text is written \\\" inside \"…\" or '' "
                  "inside '…' (引用符が閉じられていません)")
ESCAPE = ("inside \"…\" a backslash starts an escape; write \\\\ for a backslash, or use single quotes '…' "
          "(\"…\" の中の \\ はエスケープです。\\\\ と書くか '…' で囲んでください)")


def explain(exc: yaml.YAMLError, text: str, prefix: str = "not valid YAML") -> Found:
    """The error as an author reads it: where, what the parser said, and a hint for the common mistakes."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None) or ""
    mark = getattr(exc, "problem_mark", None)
    opened = getattr(exc, "context_mark", None)
    if mark is None:
        return 1, None, f"{prefix}: {problem}"
    lines = text.splitlines()
    here = lines[mark.line] if mark.line < len(lines) else ""
    char = here[mark.column] if mark.column < len(here) else ""
    line, column = mark.line + 1, mark.column + 1
    hint = ""
    if char == "\t" or "tab" in problem:
        hint = TAB
    elif "quoted scalar" in context and "end of stream" in problem and opened is not None:
        line, column = opened.line + 1, opened.column + 1
        problem, hint = "the quote opened here is never closed", UNCLOSED_QUOTE
    elif "quoted scalar" in context and "escape" in problem:
        hint = ESCAPE
    elif "flow" in context:
        problem, hint, line, column = _flow(problem, char, mark, opened, lines)
    elif "mapping values are not allowed" in problem:
        hint = COLON if _KEY_BEFORE.search(here[: mark.column]) else INDENT
    elif "expected key" in problem or "block end" in problem or "'-' indicator" in problem:
        hint = AFTER_QUOTE if here[: mark.column].rstrip()[-1:] in ("\"", "'") else INDENT
    elif "simple key" in context or "expected ':'" in problem:
        hint = NO_COLON
    elif "cannot start any token" in problem and char in ("@", "`"):
        hint = BAD_START
    elif "block scalar" in context:
        hint = BLOCK
    return line, column, f"{prefix}: {problem}" + (f"; hint: {hint}" if hint else "")


def _flow(problem: str, char: str, mark: yaml.Mark, opened: yaml.Mark | None,
          lines: list[str]) -> tuple[str, str, int, int]:
    line, column = mark.line + 1, mark.column + 1
    if char == "?":
        return problem, QUESTION, line, column
    if opened is not None and opened.line != mark.line and not _closed_on_its_line(lines, opened):
        bracket = lines[opened.line][opened.column] if opened.column < len(lines[opened.line]) else "{"
        closing = "}" if bracket == "{" else "]"
        return (f"the '{bracket}' opened here is not closed before line {line}",
                f"close it with '{closing}', or quote a value in it that contains ': ' or ',' "
                f"（「{bracket}」が閉じられていません。「{closing}」で閉じるか、「: 」や「,」を含む値を引用符で囲んでください）",
                opened.line + 1, opened.column + 1)
    if char == ":":
        return problem, COLON_FLOW, line, column
    return problem, ("inside {…} or […], quote any value that contains ':', ',', '[', ']', '{', '}', '#' or '?' "
                     "(記号を含む値は引用符で囲んでください)"), line, column


def _closed_on_its_line(lines: list[str], opened: yaml.Mark) -> bool:
    text = lines[opened.line][opened.column:]
    depth = 0
    for char in text:
        depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(char, 0)
        if depth == 0:
            return True
    return False


def all_errors(text: str, parse: Parse, first: yaml.YAMLError, prefix: str = "not valid YAML") -> list[Found]:
    """The first error, and the further independent ones found by reading the text's blocks alone."""
    lines = text.splitlines(keepends=True)
    found = [explain(first, text, prefix)]
    found += _region(lines, 0, len(lines), parse, prefix)
    out: dict[int, Found] = {}
    for item in found:
        out.setdefault(item[0], item)  # one problem per line: the whole file's reading first
    return sorted(out.values(), key=lambda f: f[0])[:MAX_FOUND]


def _indent(line: str) -> int | None:
    """Leading spaces of a line that carries YAML (None: blank or a comment)."""
    stripped = line.lstrip(" ")
    if not stripped.strip() or stripped.startswith("#"):
        return None
    return len(line) - len(stripped)


def _region(lines: list[str], start: int, end: int, parse: Parse, prefix: str) -> list[Found]:
    """Errors in ``lines[start:end]``: each block at the region's smallest indentation is parsed alone."""
    indents = [(i, n) for i in range(start, end) if (n := _indent(lines[i])) is not None]
    if not indents:
        return []
    base = min(n for _, n in indents)
    heads = [i for i, n in indents if n == base]
    bounds = ([start] if heads[0] > start else []) + heads + [end]
    found: list[Found] = []
    for a, b in zip(bounds, bounds[1:]):
        if len(found) >= MAX_FOUND:
            break
        error = _try(lines, a, b, base, parse)
        if error is None:
            continue
        deeper = []
        if b - a > 1 and not _BLOCK_SCALAR.search(lines[a].rstrip()) and _try(lines, a, a + 1, base, parse) is None:
            deeper = _region(lines, a + 1, b, parse, prefix)
        found += deeper or [_shifted(error, lines, a, b, base, prefix)]
    return found


def _dedented(lines: list[str], a: int, b: int, base: int) -> str:
    return "".join(line[base:] if line[:base].strip(" ") == "" else line.lstrip(" ") for line in lines[a:b])


def _try(lines: list[str], a: int, b: int, base: int, parse: Parse) -> yaml.YAMLError | None:
    try:
        parse(_dedented(lines, a, b, base))
    except yaml.YAMLError as exc:
        return exc
    return None


def _shifted(error: yaml.YAMLError, lines: list[str], a: int, b: int, base: int, prefix: str) -> Found:
    line, column, message = explain(error, _dedented(lines, a, b, base), prefix)
    return line + a, None if column is None else column + base, message
