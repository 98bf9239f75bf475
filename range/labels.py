"""Labels are the source of truth: every container, network and volume carries them."""
from __future__ import annotations

PLATFORM = "org.mamori.platform"
EXERCISE = "org.mamori.exercise"
TEAM = "org.mamori.team"
HOST = "org.mamori.host"
SEGMENT = "org.mamori.segment"
ROLE = "org.mamori.role"  # "host", "gateway" or "access"
PLATFORM_VALUE = "mamori"
GATEWAY_HOST = "gateway"
ACCESS_SEGMENT = "access"


def for_team(exercise: str, team: str) -> dict[str, str]:
    return {PLATFORM: PLATFORM_VALUE, EXERCISE: exercise, TEAM: team}


def filters(exercise: str | None = None, team: str | None = None, host: str | None = None) -> list[str]:
    """Docker ``label=`` filters selecting what the platform made (optionally narrowed)."""
    selected = [f"{PLATFORM}={PLATFORM_VALUE}"]
    for key, value in ((EXERCISE, exercise), (TEAM, team), (HOST, host)):
        if value is not None:
            selected.append(f"{key}={value}")
    return selected
