"""Browser terminals: only members open them (staff are sent to the session list); staff watch and replay.

No range is built in the matrix world, so a member asking for a host's socket gets 404;
no terminal session exists either (999999), so staff get 404 on a session's pages.
"""
from tests.authz_rows import Row

ROWS = [
    Row("GET", "/teams/{team_a}/terminal", (302, 200, 403, 302, 302)),
    Row("GET", "/teams/{team_b}/terminal", (302, 403, 200, 302, 302)),
    Row("GET", "/teams/{team_a}/terminal/ws01/socket", (302, 404, 403, 403, 403)),
    Row("GET", "/teams/{team_a}/terminal/sessions", (302, 403, 403, 200, 200)),
    Row("GET", "/teams/{team_a}/terminal/sessions/999999/watch", (302, 403, 403, 404, 404)),
    Row("GET", "/teams/{team_a}/terminal/sessions/999999/watch/socket", (302, 403, 403, 404, 404)),
    Row("GET", "/teams/{team_a}/terminal/sessions/999999/replay", (302, 403, 403, 404, 404)),
    Row("GET", "/teams/{team_a}/terminal/sessions/999999/recording.cast", (302, 403, 403, 404, 404)),
]
