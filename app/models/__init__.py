"""The ORM models. Importing this package registers every table on ``Base.metadata``."""
from app.models.accounts import ApiToken, LoginThrottle, RevokedSession, Role, ThrottleScope, User
from app.models.audit import AuditEvent
from app.models.base import Base, utcnow
from app.models.correspondence import MessageAttachment, RequestRun, RequestStatus, Thread, ThreadState
from app.models.exercises import Exercise, ExerciseState, Membership, Scenario, Team
from app.models.organisations import Organisation, Prefecture
from app.models.ranges import RangeHost, RangeState, TeamRange
from app.models.runtime import EngineLease, InjectRun, Message, RunStatus, TerminalSession, TimelineEvent
from app.models.scoring import (
    CheckResultRow, ReportStatus, ReportVersion, ScoreEvent, ScoreSource, ScoringRound, TaskAttempt, TeamScore,
)

__all__ = [
    "CheckResultRow",
    "ReportStatus",
    "ReportVersion",
    "ScoreEvent",
    "ScoreSource",
    "ScoringRound",
    "TaskAttempt",
    "TeamScore",
    "ApiToken",
    "AuditEvent",
    "LoginThrottle",
    "RevokedSession",
    "ThrottleScope",
    "EngineLease",
    "InjectRun",
    "Message",
    "MessageAttachment",
    "RequestRun",
    "RequestStatus",
    "Thread",
    "ThreadState",
    "RunStatus",
    "TerminalSession",
    "TimelineEvent",
    "Base",
    "Exercise",
    "ExerciseState",
    "Membership",
    "Organisation",
    "Prefecture",
    "RangeHost",
    "RangeState",
    "Role",
    "Scenario",
    "Team",
    "TeamRange",
    "User",
    "utcnow",
]
