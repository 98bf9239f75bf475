"""``mamori setup`` and ``mamori serve``: what ``make run`` calls."""
from __future__ import annotations

import errno
import os
import shutil
import socket
import sys

import click
from flask.cli import with_appcontext

from app import migrate
from app.cli.context import database, settings
from app.serving.supervisor import Child, Supervisor
from app.serving.worker import READ_TIMEOUT_ENV, PrereadWorker
from app.services import accounts, scenarios
from app.settings import ConfigurationError
from range import hostfw
from range.errors import RangeError


@click.command()
@click.option("--admin-password", envvar="MAMORI_ADMIN_PASSWORD", default=None,
              help="Password of the first administrator (or MAMORI_ADMIN_PASSWORD).")
@with_appcontext
def setup(admin_password: str | None) -> None:
    """Upgrade the database, register bundled scenarios, create the first administrator."""
    migrate.upgrade(database())
    click.echo(f"database: {database().url} at {migrate.current_revision(database())}")
    with database().transaction() as session:
        found, problems = scenarios.register_directory(session, settings().scenarios_dir)
        made = accounts.ensure_first_admin(session, admin_password)
    new = sum(1 for r in found if r.created)
    click.echo(f"scenarios: {len(found)} bundled, {new} newly registered")
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    try:
        added = hostfw.ensure_rules()
        click.echo("range firewall: " + (f"{len(added)} rule(s) added" if added else "in place"))
    except RangeError as exc:
        click.echo(f"warning: range firewall not set ({exc}); ranges cannot be provisioned safely", err=True)
    if made is not None:
        user, generated = made
        if generated:
            click.echo(f"administrator: login {user.login}, password {generated} (shown once)")
        else:
            click.echo(f"administrator: login {user.login} (password from MAMORI_ADMIN_PASSWORD)")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="MAMORI_HOST")
@click.option("--port", default=8000, show_default=True, type=int, envvar="MAMORI_PORT")
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=32, show_default=True, type=click.IntRange(4, 1000), envvar="MAMORI_WEB_THREADS",
              help="Threads per worker. Each open browser terminal holds one: allow teams × "
                   "MAMORI_TERMINAL_MAX_PER_TEAM across all workers, plus some for pages.")
@click.option("--engine/--no-engine", default=True, show_default=True,
              help="Also run the engine process (`mamori engine run`) beside the web server.")
@with_appcontext
def serve(host: str, port: int, workers: int, threads: int, engine: bool) -> None:
    """Serve the platform with gunicorn, and run the engine beside it (checks the schema and the port first).

    The engine is a separate process, never part of gunicorn; it is restarted when it dies, and both
    stop together on Ctrl-C or SIGTERM. A request must arrive whole within MAMORI_REQUEST_READ_SECONDS
    before a thread takes it, so slow or half-open connections cannot stall the server.
    """
    migrate.require_current(database())
    ensure_port_free(host, port)
    here = os.path.dirname(sys.executable)
    gunicorn = shutil.which("gunicorn", path=here) or shutil.which("gunicorn")
    if gunicorn is None:
        raise ConfigurationError("gunicorn is not installed in this environment (run `make install`)")
    click.echo(f"Mamori on http://{host}:{port}/ (settings from the environment, {settings().instance_path})")
    web = [gunicorn, "--bind", f"{host}:{port}", "--workers", str(workers),
           "--worker-class", f"{PrereadWorker.__module__}.{PrereadWorker.__name__}",
           "--threads", str(threads), "--access-logfile", "-", "--forwarded-allow-ips", "127.0.0.1",
           "app:create_app()"]
    children = [Child("web server", web, restart=False,
                      env={**os.environ, READ_TIMEOUT_ENV: str(settings().request_read_seconds)})]
    if engine:
        children.append(Child("engine", [shutil.which("mamori", path=here) or "mamori", "engine", "run"],
                              restart=True))
    raise SystemExit(Supervisor(children, log=lambda line: click.echo(line, err=True)).run())


def ensure_port_free(host: str, port: int) -> None:
    """Refuse a port another program listens on. SO_REUSEADDR as gunicorn binds: a port whose only
    sockets are in TIME-WAIT (a server stopped a moment ago) is free."""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"port {port} on {host} is already in use (is Mamori already running? "
                "stop it, or choose another port with MAMORI_PORT)"
            ) from None
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    finally:
        probe.close()
