"""A scenario's bundled files (relative path → base64, as stored with its version), placed where a scenario says."""
from __future__ import annotations

import base64

from app.services.errors import N_, InvalidInput


def files_at(path: str, content: str | None, source: str | None, bundle: dict[str, str]) -> list[tuple[str, bytes]]:
    """What one ``files:`` entry places: its text ``content``, the bundled file ``source``, or every file
    under the bundled folder ``source`` at ``path/<relative>`` — bytes as bundled."""
    if source is None:
        return [(path, (content or "").encode("utf-8"))]
    if source in bundle:
        return [(path, base64.b64decode(bundle[source]))]
    folder = source.rstrip("/") + "/"
    inside = sorted(name for name in bundle if name.startswith(folder))
    if not inside:
        raise InvalidInput(N_("the scenario's bundled file %(file)r is missing; register the scenario again"),
                           file=source)
    return [(f"{path.rstrip('/')}/{name[len(folder):]}", base64.b64decode(bundle[name])) for name in inside]
