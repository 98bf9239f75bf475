"""An exercise's staff: the add/remove route, and what an instructor who does NOT run the exercise gets.

The matrix world's "instructor" runs its exercise (is on its staff); the
"other instructor" is an instructor who does not. ``OTHER_INSTRUCTOR`` is that
persona's column for every exercise-scoped row of the matrix (the terminal
rows included, whose module another part of the portal owns):
``test_other_instructor`` runs it, and ``test_every_exercise_scoped_row_has_an_other_instructor_cell``
fails when a new exercise-scoped row has no cell here. The design: the list
and the overview page (web and API) read-only; everything else refused (403)
— or 404 when there is no such exercise or team at all.
"""
from tests.authz_rows import Row

REFUSED = 403

ROWS = [
    # No login given: the form comes back with its error (nothing changes).
    Row("POST", "/exercises/{exercise}/staff", (302, 403, 403, 400, 400)),
    Row("POST", "/exercises/999999/staff", (302, 403, 403, 404, 404), {"login": "instructor"}),
]

OTHER_INSTRUCTOR: dict[tuple[str, str], int] = {
    # Not about an exercise: the token is the (staff) instructor's, not this one's.
    ("POST", "/account/tokens/{instructor_token}/revoke"): 404,
    # What another instructor may see: the overview, read-only.
    ("GET", "/exercises/{exercise}"): 200,
    ("GET", "/api/v1/exercises/{exercise}"): 200,
    # No such exercise (or team) at all.
    ("GET", "/exercises/999999"): 404,
    ("GET", "/exercises/999999/live"): 404,
    ("GET", "/review/exercises/999999"): 404,
    ("GET", "/review/exercises/999999/export/scores.csv"): 404,
    ("GET", "/review/exercises/999999/export/trainees.json"): 404,
    ("GET", "/review/exercises/999999/export/variables.csv"): 404,
    ("GET", "/teams/999999/score"): 404,
    ("POST", "/exercises/999999/scores/visibility"): 404,
    ("POST", "/exercises/999999/staff"): 404,
    ("GET", "/exercises/999999/white-cell"): 404,
    ("POST", "/exercises/999999/ranges/build"): 404,
    # Everything else about the exercise and its teams is refused.
    **{key: REFUSED for key in [
        ("GET", "/review/exercises/{exercise}/export/variables.csv"),
        ("GET", "/review/exercises/{exercise}/export/variables.json"),
        ("POST", "/exercises/{exercise}/roster"),
        ("POST", "/exercises/{exercise}/roster/confirm"),
        ("POST", "/exercises/{exercise}/pause"),
        ("POST", "/exercises/{exercise}/injects"),
        ("POST", "/exercises/{exercise}/messages"),
        ("POST", "/exercises/{exercise}/hints"),
        ("POST", "/exercises/{exercise}/staff"),
        ("GET", "/exercises/{exercise}/live"),
        ("GET", "/exercises/{exercise}/live/board"),
        ("GET", "/exercises/{exercise}/readiness"),
        ("GET", "/exercises/{exercise}/readiness/board"),
        ("GET", "/exercises/{exercise}/white-cell"),
        ("POST", "/exercises/{exercise}/white-cell/999999/answer"),
        ("POST", "/exercises/{exercise}/white-cell/999999/request"),
        ("POST", "/exercises/{exercise}/white-cell/999999/dismiss"),
        ("GET", "/exercises/{exercise}/attachments/999999"),
        ("POST", "/exercises/{exercise}/teams/99/provision"),
        ("POST", "/exercises/{exercise}/ranges/rebuild-failed"),
        ("POST", "/exercises/{exercise}/ranges/teardown"),
        ("POST", "/exercises/{exercise}/teams/1/hosts/nope/reset"),
        ("POST", "/exercises/{exercise}/teams/1/hosts/nope/resume"),
        ("GET", "/exercises/{exercise}/scores"),
        ("POST", "/exercises/{exercise}/adjustments"),
        ("POST", "/exercises/{exercise}/scores/visibility"),
        ("GET", "/exercises/{exercise}/teams/1/score"),
        ("GET", "/exercises/{exercise}/teams/99/score"),
        ("GET", "/exercises/{exercise}/grading"),
        ("GET", "/exercises/{exercise}/grading/999999"),
        ("POST", "/exercises/{exercise}/grading/999999"),
        ("POST", "/exercises/{exercise}/grading/release"),
        ("GET", "/teams/{team_a}"),
        ("GET", "/teams/{team_b}"),
        ("GET", "/teams/{team_a}/status"),
        ("GET", "/teams/{team_b}/status"),
        ("GET", "/teams/{team_a}/score"),
        ("GET", "/teams/{team_b}/score"),
        ("GET", "/teams/{team_a}/ssh_config"),
        ("GET", "/teams/{team_a}/inbox"),
        ("GET", "/teams/{team_a}/inbox/{message_a}"),
        ("GET", "/teams/{team_a}/tasks"),
        ("POST", "/teams/{team_a}/tasks/infected-host/answer"),
        ("GET", "/teams/{team_a}/tasks/infected-host/hints/0"),
        ("POST", "/teams/{team_a}/tasks/infected-host/hints/0"),
        ("GET", "/teams/{team_a}/reports"),
        ("GET", "/teams/{team_a}/reports/first-report"),
        ("GET", "/teams/{team_a}/reports/no-such-report"),
        ("POST", "/teams/{team_a}/reports/first-report"),
        # The team's correspondence (tests/authz_rows/team.py), pages and API.
        ("GET", "/teams/{team_a}/messages/new"),
        ("GET", "/teams/{team_b}/messages/new"),
        ("POST", "/teams/{team_a}/messages/new"),
        ("GET", "/teams/{team_a}/threads/999999"),
        ("POST", "/teams/{team_a}/threads/999999"),
        ("GET", "/teams/{team_a}/threads/999999/body"),
        ("GET", "/teams/{team_a}/attachments/999999"),
        ("GET", "/api/v1/teams/{team_a}/threads"),
        ("GET", "/api/v1/teams/{team_b}/threads"),
        ("GET", "/api/v1/teams/{team_a}/threads/999999"),
        ("GET", "/api/v1/teams/{team_a}/attachments/999999"),
        ("POST", "/api/v1/teams/{team_a}/messages"),
        # The team's reports over the API (tests/authz_rows/reports.py).
        ("GET", "/api/v1/teams/{team_a}/reports"),
        ("GET", "/api/v1/teams/{team_b}/reports"),
        ("POST", "/api/v1/teams/{team_a}/reports/first-report/draft"),
        ("POST", "/api/v1/teams/{team_a}/reports/first-report/submit"),
        # Terminal recordings: listing, watching, replaying, downloading.
        ("GET", "/teams/{team_a}/terminal"),
        ("GET", "/teams/{team_b}/terminal"),
        ("GET", "/teams/{team_a}/terminal/ws01/socket"),
        ("GET", "/teams/{team_a}/terminal/sessions"),
        ("GET", "/teams/{team_a}/terminal/sessions/999999/watch"),
        ("GET", "/teams/{team_a}/terminal/sessions/999999/watch/socket"),
        ("GET", "/teams/{team_a}/terminal/sessions/999999/replay"),
        ("GET", "/teams/{team_a}/terminal/sessions/999999/recording.cast"),
        # The review of the exercise: rankings, breakdowns, AARs, exports with names.
        ("GET", "/review/exercises/{exercise}"),
        ("GET", "/review/exercises/{exercise}/teams/1"),
        ("GET", "/review/exercises/{exercise}/teams/99"),
        ("GET", "/review/exercises/{exercise}/teams/2/aar"),
        ("GET", "/review/exercises/{exercise}/teams/99/aar"),
        ("GET", "/review/exercises/{exercise}/teams/1/aar.pdf"),
        ("GET", "/review/exercises/{exercise}/export/events.csv"),
        ("GET", "/review/exercises/{exercise}/export/teams.json"),
        ("GET", "/review/exercises/{exercise}/export/trainees.csv"),
        # The API: the clock, scores, adjustments, teams.
        ("POST", "/api/v1/exercises/{exercise}/start"),
        ("GET", "/api/v1/exercises/{exercise}/scores"),
        ("GET", "/api/v1/exercises/{exercise}/teams/1/score-events"),
        ("GET", "/api/v1/exercises/{exercise}/teams/99/score-events"),
        ("POST", "/api/v1/exercises/{exercise}/adjustments"),
        ("GET", "/api/v1/teams/{team_a}"),
        ("GET", "/api/v1/teams/{team_b}"),
    ]},
}
