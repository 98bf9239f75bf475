"""The scenario format as typed, frozen models (pydantic); docs/scenario-format.md explains it.

Check and action parameters come from the registries in ``scoring.checks`` and
``range.actions``: each registered type becomes one variant of a union tagged
by ``type``, so the JSON Schema names every type and its parameters.
"""
from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, StringConstraints, Tag, create_model,
                      model_validator)

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
    passive_at_most: int = Field(default=0, ge=0, description=(
        "In points (not a share): the most the passive team, which does nothing, may score; e.g. 0 or 50"))


ParamName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,30}$")]


class Choice(Strict):
    id: Id
    label: Text


class RequestParam(Strict):
    """One thing a trainee fills in when making a request: a host of the team's range, a choice, or text.

    Only ``host`` and ``choice`` values may appear in the request's actions (their values are
    known in advance and checked); ``text`` goes into the reply only.
    """

    id: ParamName
    type: Literal["host", "choice", "text"]
    label: Text
    hosts: list[HostId] = []  # host: the hosts offered (every host trainees can see when empty)
    choices: list[Choice] = []  # choice: the values offered
    required: bool = True


Keyword = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Matching(Strict):
    """How a free-text message is recognised as this request (NFKC-normalised, case-folded).

    ``keywords``: every item must occur; an item that is a list is satisfied by any of its words.
    ``patterns``: regular expressions; any one that matches is enough.
    """

    keywords: list[Keyword | list[Keyword]] = []
    patterns: list[Annotated[str, StringConstraints(min_length=1, max_length=500)]] = []


class RawAction(Strict):
    """An action of a request, kept as written: its parameters may hold ``{param}`` placeholders.

    The validator expands every combination of ``host``/``choice`` values and checks each as an
    inject action; the engine expands the one the team asked for (``expand_actions``).
    """

    type: str
    params: dict[str, Any]


class Attachment(Strict):
    """A file the character sends back: read from a host of the team's range, or bundled with the scenario."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.{}-][A-Za-z0-9_.{} -]{0,99}$")]
    host: str | None = None  # a host id, or a {param} placeholder
    path: Annotated[str, StringConstraints(pattern=r"^/.+")] | None = None
    source: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")] | None = None
    max_bytes: Annotated[int, Field(ge=1, le=256 * 1024)] = 64 * 1024


class CharacterRequest(Strict):
    """Something a character does when a team asks: reply, act on the team's range, send files."""

    id: Id
    label: Text
    description: Text | None = None
    params: list[RequestParam] = []
    match: Matching = Matching()
    reply: Text
    delay: HHMM = "00:00"
    condition: "TeamCondition | None" = None
    refuse: Text | None = None  # the reply when the condition does not hold
    once: bool = True
    repeat: Text | None = None  # the reply to a second request once it was fulfilled
    actions: list[RawAction] = []
    attach: list[Attachment] = []
    points: Points = 0


class Character(Strict):
    id: Id
    kind: Literal["boss", "colleague", "vendor", "authority", "attacker", "other"]
    name: Text
    title: Text
    department: Text | None = None
    # Whether trainees can write to this character (an attacker cannot be written to unless said so).
    contactable: bool | None = None
    requests: list[CharacterRequest] = []
    replies: list[Text] = []  # canned replies the white cell may send as this character

    @property
    def reachable(self) -> bool:
        return self.contactable if self.contactable is not None else self.kind != "attacker"


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


SourcePath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")]
FileMode = Annotated[str, StringConstraints(pattern=r"^0?[0-7]{3,4}$")]


class HostFile(Strict):
    """A file placed on a host before it starts: ``content`` (text), or ``source`` in the scenario's folder.

    A ``source`` that names a folder copies the whole folder to ``path``. Bundled
    files are copied byte for byte (binary files too); ``{{variable}}``
    placeholders are filled in ``content`` always, and in a source file only
    with ``template: true`` (which requires UTF-8 text).
    """

    path: Annotated[str, StringConstraints(pattern=r"^/.+")]
    content: str | None = Field(default=None, max_length=1_000_000)
    source: SourcePath | None = None
    template: bool = False
    mode: FileMode = "0644"
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
    segments: list[Annotated[HostSegment, BeforeValidator(_segment_item, json_schema_input_type=Id | HostSegment)]] = Field(
        min_length=1)
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
    # The range's own DNS server (a host with the dns role image): every host resolves the
    # range's names through it, and hidden hosts' aliases are no longer written to /etc/hosts.
    dns: HostId | None = None


class At(Strict):
    """A moment on the exercise clock: day and time since that day's start."""

    day: Annotated[int, Field(ge=1, le=2)] = 1
    at: HHMM


class Finished(Strict):
    """An inject's actions have all finished (they run in real time while the clock may run faster)."""

    finished: Id


class After(Strict):
    """A moment relative to another inject: its firing (``after: ID``) or the end of its actions (``after: {finished: ID}``)."""

    after: Id | Finished
    delay: HHMM = "00:00"

    @property
    def inject(self) -> str:
        """The id of the inject this moment counts from."""
        return self.after.finished if isinstance(self.after, Finished) else self.after

    @property
    def on_finish(self) -> bool:
        return isinstance(self.after, Finished)


class Condition(Strict):
    """A check of the team's range shows a status (looked at when the condition is evaluated)."""

    check: Id
    status: Literal["up", "down"]


class Contacted(Strict):
    """The team wrote to a character (optionally: made a given request; optionally: it was fulfilled)."""

    contacted: Id
    request: Id | None = None
    fulfilled: bool = False


class Submitted(Strict):
    """The team submitted a report (by id or by kind), optionally by a moment of the exercise."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["report"]}, {"required": ["report_kind"]}]})
    report: Id | None = None
    report_kind: Literal["first", "follow_up", "final"] | None = None
    by: "At | None" = None

    @model_validator(mode="after")
    def _one_of(self) -> "Submitted":
        if (self.report is None) == (self.report_kind is None):
            raise ValueError("give exactly one of report or report_kind")
        return self


class Answered(Strict):
    """The team answered a task: correctly (the default), wrongly at least once, or at all."""

    task: Id
    answered: Literal["correct", "wrong", "any"] = "correct"


class HintTaken(Strict):
    """The team took a hint of a task (``true``: of any task)."""

    hint_taken: Id | bool


class AnyOf(Strict):
    any: list["TeamCondition"] = Field(min_length=1)


class AllOf(Strict):
    all: list["TeamCondition"] = Field(min_length=1)


class Not(Strict):
    not_: "TeamCondition" = Field(alias="not")


_CONDITION_KEYS = (("check", "check"), ("contacted", "contacted"), ("report", "submitted"),
                   ("report_kind", "submitted"), ("task", "answered"), ("hint_taken", "hint"),
                   ("any", "any"), ("all", "all"), ("not", "not"), ("not_", "not"))


def _condition_kind(value: Any) -> str | None:
    for key, tag in _CONDITION_KEYS:
        if (key in value) if isinstance(value, dict) else hasattr(value, key):
            return tag
    return None


TeamCondition = Annotated[
    Annotated[Condition, Tag("check")] | Annotated[Contacted, Tag("contacted")]
    | Annotated[Submitted, Tag("submitted")] | Annotated[Answered, Tag("answered")]
    | Annotated[HintTaken, Tag("hint")] | Annotated[AnyOf, Tag("any")] | Annotated[AllOf, Tag("all")]
    | Annotated[Not, Tag("not")],
    Discriminator(_condition_kind, custom_error_type="condition_kind",
                  custom_error_message="not a condition: give one of check, contacted, report, report_kind, task, "
                                       "hint_taken, any, all or not"),
]


class When(Strict):
    """When a condition on the team's range holds (from ``not_before``), or never if it doesn't by ``give_up_at``."""

    day: Annotated[int, Field(ge=1, le=2)] = 1
    condition: TeamCondition
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
    condition: TeamCondition | None = None  # looked at when it falls due: skipped unless it holds
    skip_if: TeamCondition | None = None
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


class Explain(Strict):
    """What a check's result tells the trainees, in the scenario's words: when it passes and when it fails.

    Trainees read it instead of the check's technical reason (an exit status, a
    probe's output), which only the staff see.
    """

    passing: Text | None = Field(None, alias="pass")
    failing: Text | None = Field(None, alias="fail")


class CheckBase(Strict):
    id: Id
    title: Text
    explain: Explain | None = None
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
    # The model answer as the debrief shows it (a regex or a list of spellings is no answer to read).
    display_answer: Text | None = None
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
    # on_time: scored by the platform, full points when the first submission was not late, else 0.
    auto: Literal["on_time"] | None = None


class Report(Strict):
    id: Id
    kind: Literal["first", "follow_up", "final"]
    title: Text
    to: Id | None = None  # the character it is addressed to (shown to trainees; "reported up" counts it)
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


class MessageStep(Strict):
    """A message the perfect team writes to a character, as a request (with its parameters) or free text."""

    do: Literal["message"]
    at: Moment
    to: Id
    request: Id | None = None
    params: dict[str, str] = {}
    subject: Text | None = None
    text: Text


Step = Annotated[CommandStep | AnswerStep | ReportStep | MessageStep, Discriminator("do")]


DebianPackage = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9+.-]{1,80}$")]


class ImageFile(Strict):
    """A file baked into a scenario's image: ``content`` (text) or ``source`` (a file or folder in the scenario's folder)."""

    path: Annotated[str, StringConstraints(pattern=r"^/.+")]
    content: str | None = Field(default=None, max_length=1_000_000)
    source: SourcePath | None = None
    mode: FileMode = "0644"


class ImageExtension(Strict):
    """An image of the scenario's own: a role image with more Debian packages and files.

    ``mamori images build`` bakes it into an image tagged by a hash of what it is made
    from; hosts name it by ``id`` in ``image:`` like a role image.
    """

    id: Id
    from_: Id = Field(alias="from")
    description: Text | None = None
    packages: list[DebianPackage] = Field(default=[], max_length=100)
    files: list[ImageFile] = Field(default=[], max_length=200)


VariableValue = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class Variable(Strict):
    """A value drawn for each team (against answer sharing), used as ``{{id}}`` in the scenario's texts.

    Exactly one of: ``values`` (one of a list), ``between`` (an integer, both ends
    included) or ``generate`` (a fresh value of a kind). ``distinct``: no two teams of
    an exercise get the same value while the pool allows it.
    """

    id: ParamName
    description: Text | None = None
    values: list[VariableValue] | None = Field(default=None, min_length=1, max_length=1000)
    between: Annotated[list[int], Field(min_length=2, max_length=2)] | None = None
    generate: Literal["password", "hex", "word", "username", "ipv4", "domain"] | None = None
    length: Annotated[int, Field(ge=4, le=64)] = 12  # password, hex
    subnet: IPv4Network | None = None  # ipv4: drawn from this network (its host addresses)
    suffix: Annotated[str, StringConstraints(pattern=r"^[a-z0-9.-]{1,60}$")] | None = None  # domain: e.g. example
    distinct: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> "Variable":
        given = [name for name in ("values", "between", "generate") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of values, between or generate")
        if self.between is not None and self.between[0] > self.between[1]:
            raise ValueError(f"between: {self.between[0]} is greater than {self.between[1]}")
        if self.subnet is not None and self.generate != "ipv4":
            raise ValueError("subnet is for generate: ipv4")
        if self.suffix is not None and self.generate != "domain":
            raise ValueError("suffix is for generate: domain")
        return self


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
    variables: list[Variable] = []
    images: list[ImageExtension] = []
    story: Story
    network: Network
    injects: list[Inject] = []
    checks: list[Check] = []  # type: ignore[valid-type]
    tasks: list[Task] = []
    reports: list[Report] = []
    debrief: Debrief
    model_response: list[Step] = []


for _model in (CharacterRequest, Character, Story, Submitted, AnyOf, AllOf, Not, When, Inject, Scenario):
    _model.model_rebuild()
