"""The scenario format as typed, frozen models (pydantic); docs/scenario-format.md explains it.

Check and action parameters come from the registries in ``scoring.checks`` and
``range.actions``: each registered type becomes one variant of a union tagged
by ``type``, so the JSON Schema names every type and its parameters.
"""
from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, StringConstraints, Tag, create_model

from range.actions import ACTION_TYPES
from scoring.checks import CHECK_TYPES
from scoring.formulas import DECAY_FORMULAS

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,40}$")]
HostId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
HHMM = Annotated[str, StringConstraints(pattern=r"^([0-9]{1,2}):([0-5][0-9])$")]
Points = Annotated[int, Field(ge=0, le=100_000)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


def minutes(value: str) -> int:
    """``"01:30"`` → 90."""
    hours, mins = re.fullmatch(r"(\d{1,2}):(\d{2})", value).groups()  # type: ignore[union-attr]
    return int(hours) * 60 + int(mins)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Text(Strict):
    """Text in Japanese (required) and English (required)."""

    ja: NonEmpty
    en: NonEmpty


class Day(Strict):
    length: HHMM
    title: Text | None = None


class Expectations(Strict):
    """What a rehearsal must see: the perfect team's share of the maximum, the passive team's ceiling."""

    perfect_at_least: float = Field(default=0.8, gt=0, le=1)
    passive_at_most: int = 0


class Character(Strict):
    id: Id
    kind: Literal["boss", "colleague", "vendor", "authority", "attacker", "other"]
    name: Text
    title: Text
    department: Text | None = None


class Organisation(Strict):
    name: Text
    description: Text


class Story(Strict):
    organisation: Organisation
    characters: list[Character] = Field(min_length=1)
    briefing: Text


class Segment(Strict):
    id: Id
    name: Text
    purpose: Text | None = None
    subnet: IPv4Network | None = None


class HostSegment(Strict):
    id: Id
    address: IPv4Address | None = None


def _segment_item(value: Any) -> Any:
    return {"id": value} if isinstance(value, str) else value


class Account(Strict):
    user: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f:]+$")]
    sudo: bool = False
    shell: str = "/bin/bash"


class Service(Strict):
    name: Id
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: Literal["tcp", "udp"] = "tcp"


class HostFile(Strict):
    path: Annotated[str, StringConstraints(pattern=r"^/.+")]
    content: str | None = Field(default=None, max_length=1_000_000)
    source: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")] | None = None
    mode: Annotated[str, StringConstraints(pattern=r"^0?[0-7]{3,4}$")] = "0644"
    owner: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "root"


DnsName = Annotated[
    str,
    StringConstraints(
        max_length=253, pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
    ),
]


class Host(Strict):
    id: HostId
    name: Text
    image: Id
    aliases: list[DnsName] = []
    segments: list[Annotated[HostSegment, BeforeValidator(_segment_item)]] = Field(min_length=1)
    accounts: list[Account] = []
    services: list[Service] = []
    files: list[HostFile] = []
    startup: list[NonEmpty] = []
    trainee_login: bool = False
    hidden: bool = False
    capabilities: list[Literal["NET_ADMIN", "NET_RAW"]] = []
    forwarding: bool = False
    gateway: HostId | None = None


class Network(Strict):
    segments: list[Segment] = Field(min_length=1)
    access_segments: list[Id] = Field(min_length=1)
    hosts: list[Host] = Field(min_length=1)


class At(Strict):
    """A moment on the exercise clock: day and time since that day's start."""

    day: Annotated[int, Field(ge=1, le=2)] = 1
    at: HHMM


class After(Strict):
    """A moment relative to another inject's firing."""

    after: Id
    delay: HHMM = "00:00"


class Condition(Strict):
    check: Id
    status: Literal["up", "down"]


class When(Strict):
    """When a condition on the team's range holds (from ``not_before``), or never if it doesn't by ``give_up_at``."""

    day: Annotated[int, Field(ge=1, le=2)] = 1
    condition: Condition
    not_before: HHMM = "00:00"
    give_up_at: HHMM | None = None


def _moment_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "after" if "after" in value else "condition" if "condition" in value else "at"
    return "after" if hasattr(value, "after") else "condition" if hasattr(value, "condition") else "at"


Moment = Annotated[
    Annotated[At, Tag("at")] | Annotated[After, Tag("after")], Discriminator(_moment_kind)
]
Trigger = Annotated[
    Annotated[At, Tag("at")] | Annotated[After, Tag("after")] | Annotated[When, Tag("condition")],
    Discriminator(_moment_kind),
]


def tagged_union(base: type[Strict], registry: dict[str, Any], prefix: str) -> Any:
    """One model per registered type (common fields + ``type`` + typed ``params``), tagged by ``type``."""
    variants = []
    for name, kind in registry.items():
        model = create_model(
            f"{prefix}_{name}", __base__=base, type=(Literal[name], ...), params=(kind.Params, ...)
        )
        variants.append(Annotated[model, Tag(name)])
    return Annotated[Union[tuple(variants)], Discriminator("type")]  # type: ignore[arg-type]


class ActionBase(Strict):
    pass


Action = tagged_union(ActionBase, ACTION_TYPES, "Action")


class Message(Strict):
    sender: Id = Field(alias="from")
    subject: Text
    body: Text


class Inject(Strict):
    id: Id
    title: Text
    when: Trigger
    skip_if: Condition | None = None
    actions: list[Action] = []  # type: ignore[valid-type]
    message: Message | None = None
    cleanup: list[Action] = []  # type: ignore[valid-type]
    idempotent: bool = False
    timeout: Annotated[int, Field(ge=1, le=3600)] = 120
    debrief: Text


class Objective(Strict):
    mode: Literal["objective"]
    points: Points
    decay: Literal[tuple(DECAY_FORMULAS)] = "none"  # type: ignore[valid-type]
    decay_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 60
    decay_floor: Annotated[float, Field(ge=0, le=1)] = 0.5


class Availability(Strict):
    mode: Literal["availability"]
    points_per_round: Points
    penalty_per_round: Points = 0
    grace_rounds: Annotated[int, Field(ge=0, le=100)] = 0


class Penalty(Strict):
    mode: Literal["penalty"]
    points_per_round: Points


class CheckBase(Strict):
    id: Id
    title: Text
    active_from: Id | None = None
    phase: Literal["contain", "recover", "availability"] | None = None
    scoring: Annotated[Objective | Availability | Penalty, Discriminator("mode")]


Check = tagged_union(CheckBase, CHECK_TYPES, "Check")


class Answer(Strict):
    match: Literal["exact", "regex", "one_of", "all_of"]
    values: list[NonEmpty] = Field(min_length=1)


class Hint(Strict):
    text: Text
    cost: Points


class Task(Strict):
    id: Id
    prompt: Text
    answer: Answer
    points: Points
    attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    wrong_penalty: Points = 0
    opens: Moment | None = None
    hints: list[Hint] = []
    detects: bool = False
    explanation: Text


class Criterion(Strict):
    id: Id
    criterion: Text
    points: Points


class Report(Strict):
    id: Id
    kind: Literal["first", "follow_up", "final"]
    title: Text
    due: Moment
    template: Text
    rubric: list[Criterion] = Field(min_length=1)


class Debrief(Strict):
    summary: Text
    lessons: list[Text] = []


class CommandStep(Strict):
    """A command the perfect team types in an SSH session as ``user`` (an account of ``host``)."""

    do: Literal["command"]
    at: Moment
    host: HostId
    user: str
    command: NonEmpty


class AnswerStep(Strict):
    do: Literal["answer"]
    at: Moment
    task: Id
    value: NonEmpty


class ReportStep(Strict):
    do: Literal["report"]
    at: Moment
    report: Id
    text: Text


Step = Annotated[CommandStep | AnswerStep | ReportStep, Discriminator("do")]


class Scenario(Strict):
    """A whole scenario file."""

    id: Id
    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z.+-]{1,40}$")]
    title: Text
    summary: Text
    level: Literal["beginner", "intermediate", "advanced"]
    days: list[Day] = Field(min_length=1, max_length=2)
    objectives: list[Text] = Field(min_length=1)
    attack_techniques: list[Annotated[str, StringConstraints(pattern=r"^T[0-9]{4}(\.[0-9]{3})?$")]] = []
    round_seconds: Annotated[int, Field(ge=10, le=900)] = 60
    expectations: Expectations = Expectations()
    story: Story
    network: Network
    injects: list[Inject] = []
    checks: list[Check] = []  # type: ignore[valid-type]
    tasks: list[Task] = []
    reports: list[Report] = []
    debrief: Debrief
    model_response: list[Step] = []
