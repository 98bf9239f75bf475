"""Every ``mamori`` command the README and the guides tell someone to type exists and answers ``--help``.

A guide that names a command the program no longer has sends an operator on a
venue day to an error; this keeps the documents and the program together. The
commands are read from code (inline backticks and fenced blocks), where the
guides put what is to be typed.
"""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from app.cli import cli as main

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?$(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"(?:^|(?<=[\s;|&(]))mamori((?: +[a-z][a-z0-9-]*)+)", re.M)


def code_of(text: str) -> list[str]:
    """The code in a Markdown text: fenced blocks, then inline spans outside them."""
    blocks = [match.group(1) for match in FENCE.finditer(text)]
    return blocks + INLINE.findall(FENCE.sub("", text))


def mentioned() -> dict[tuple[str, ...], str]:
    """Each command path written after ``mamori`` in the documents, with where it was first seen."""
    found: dict[tuple[str, ...], str] = {}
    for document in DOCUMENTS:
        for code in code_of(document.read_text(encoding="utf-8")):
            for match in COMMAND.finditer(code):
                words = tuple(match.group(1).split())
                found.setdefault(words, f"{document.name}: mamori {' '.join(words)}")
    return found


def command_path(words: tuple[str, ...]) -> tuple[str, ...]:
    """The longest run of *words* that names a command; the words after it are its arguments."""
    path: list[str] = []
    current: click.Command = main
    for word in words:
        if not isinstance(current, click.Group) or word not in current.commands:
            break
        current = current.commands[word]
        path.append(word)
    return tuple(path)


MENTIONS = mentioned()


def test_the_documents_mention_commands() -> None:
    # The guides do tell operators what to type; an empty list would make the test below pass on nothing.
    assert len(MENTIONS) >= 30
    assert ("db", "upgrade") in {command_path(words) for words in MENTIONS}


@pytest.mark.parametrize("words", sorted(MENTIONS), ids=lambda words: " ".join(words))
def test_each_command_a_guide_names_exists_and_answers_help(words: tuple[str, ...]) -> None:
    path = command_path(words)
    assert path, f"{MENTIONS[words]}: 'mamori {words[0]}' is not a command"
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, f"{MENTIONS[words]}: {result.output}"
    assert "Usage:" in result.output
