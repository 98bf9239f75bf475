"""What a name typed by a person may contain."""
from __future__ import annotations

import unicodedata

# Bidirectional embeddings, overrides and isolates: they reorder what a terminal or a page
# shows (a name could appear to say something else); U+200E/U+200F marks are harmless.
_BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def is_plain_text(value: str) -> bool:
    """No C0/C1 control characters (line breaks, tabs, ESC …) and no bidi overrides.

    An escape sequence in a name reaches the operator's terminal through
    ``mamori user list``; a line break forges lines in exported files.
    """
    return not any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in value)
