"""A local PostgreSQL server (Debian's ``postgresql``) holding the team backend as a team sets it up:
one database and one login role per environment, each role the owner of its own database and refused
every other (``REVOKE ALL ... FROM PUBLIC``), and an admin role for backups and restores.

PostgreSQL refuses to run as root: started by root, the server runs as the ``postgres`` system user (through
``setpriv``, util-linux) in a folder of its own under the system's temporary folder, which that user can
reach (a test's temporary folder is private to root).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from gitops.localcluster.cluster import ClusterError

ADMIN = "gitops_admin"
START_SECONDS = 30
SERVER_USER = "postgres"
TABLE = "pulumi_state"


def postgres_bin() -> Path | None:
    """The folder of Debian's server binaries (the newest installed major version), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


@dataclass(frozen=True)
class EnvironmentBackend:
    """One environment's state: its database, its role, and the URL the CLI logs in with."""

    environment: str
    database: str
    role: str
    password: str
    url: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user() -> list[str]:
    """Run as the ``postgres`` user when this process is root (the server refuses root)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--clear-groups", "--"]


@dataclass
class LocalPostgres:
    folder: Path
    port: int
    admin_password: str
    binaries: Path
    process: subprocess.Popen[bytes] | None = None
    attached_pid: int = 0

    @classmethod
    def start(cls, *, binaries: Path | None = None) -> LocalPostgres:
        """initdb a fresh server and start it on a free loopback port, password authentication only."""
        binaries = binaries or postgres_bin()
        if binaries is None:
            raise ClusterError("PostgreSQL's server is not installed: apt-get install postgresql (Debian)")
        folder = Path(tempfile.mkdtemp(prefix="gitops-postgres-"))
        password = secrets.token_urlsafe(18)
        (folder / "pwfile").write_text(password, encoding="utf-8")
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(folder, user.pw_uid, user.pw_gid)
            os.chown(folder / "pwfile", user.pw_uid, user.pw_gid)
        init = subprocess.run(
            [*_as_server_user(), str(binaries / "initdb"), "-D", str(folder / "data"), "-U", ADMIN,
             f"--pwfile={folder / 'pwfile'}", "--auth=scram-sha-256", "-E", "UTF8", "--no-instructions"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        (folder / "pwfile").unlink()
        if init.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise ClusterError(f"initdb failed: {(init.stderr or init.stdout).strip()[-800:]}")
        server = cls(folder, _free_port(), password, binaries)
        server._launch()
        return server

    def _launch(self) -> None:
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*_as_server_user(), str(self.binaries / "postgres"), "-D", str(self.folder / "data"),
                 "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                 "-c", f"unix_socket_directories={self.folder}", "-c", "max_connections=300"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with self.connect():
                    return
            except psycopg.OperationalError as exc:
                if (self.process is not None and self.process.poll() is not None) or time.monotonic() > deadline:
                    log = (self.folder / "server.log").read_text(errors="replace")[-1500:]
                    self.stop()
                    raise ClusterError(f"PostgreSQL did not start ({exc}):\n{log}") from None
                time.sleep(0.1)

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=ADMIN, password=self.admin_password, dbname=database,
            autocommit=True, connect_timeout=5,
        )  # fmt: skip

    def url(self, role: str, password: str, database: str) -> str:
        return (
            f"postgres://{quote(role, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/"
            f"{quote(database, safe='')}?sslmode=disable&table={TABLE}"
        )

    @property
    def admin_url_base(self) -> str:
        return f"postgres://{ADMIN}:{quote(self.admin_password, safe='')}@127.0.0.1:{self.port}"

    def create_environments(self, prefix: str, environments: Sequence[str]) -> dict[str, EnvironmentBackend]:
        """One database and one role per environment (``<prefix>_<environment>``), each with rights on its
        own database only: the role owns it (the backend creates its table there on first use), and nobody
        else may connect (``REVOKE ALL ... FROM PUBLIC``)."""
        made = {}
        with self.connect() as admin:
            for environment in environments:
                name = f"{prefix}_{environment}"
                password = secrets.token_urlsafe(18)
                role, database = sql.Identifier(name), sql.Identifier(name)
                admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(password)))
                admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))
                admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
                made[environment] = EnvironmentBackend(
                    environment, name, name, password, self.url(name, password, name)
                )
        return made

    def create_reader(self, database: str, table: str = TABLE) -> str:
        """A login role that may only read ``database``'s state table (the dashboard's): its URL."""
        name, password = f"{database}_reader", secrets.token_urlsafe(18)
        with self.connect() as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
            )
            admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database),
                                                                             sql.Identifier(name)))  # fmt: skip
        with self.connect(database) as db:
            db.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(table), sql.Identifier(name)))
        return self.url(name, password, database)

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """The server down while the body runs (a backend outage), started again after it."""
        self._signal(signal.SIGINT)
        try:
            yield
        finally:
            self._launch()

    def _signal(self, signum: int) -> None:
        if self.process is None and self.attached_pid:  # started by another process: its group, by pid
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.attached_pid, signum)
            deadline = time.monotonic() + 20
            while Path(f"/proc/{self.attached_pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            return
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def save(self, path: Path) -> None:
        """What ``attach`` needs to stop the server from another process (``./dev cluster down``)."""
        assert self.process is not None
        state = {"folder": str(self.folder), "port": self.port, "pid": self.process.pid, "binaries": str(self.binaries)}
        path.write_text(json.dumps(state), encoding="utf-8")

    @classmethod
    def attach(cls, path: Path) -> LocalPostgres:
        state = json.loads(path.read_text(encoding="utf-8"))
        server = cls(Path(state["folder"]), int(state["port"]), "", Path(state["binaries"]))
        server.attached_pid = int(state["pid"])
        return server

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        self._signal(signal.SIGINT)
        shutil.rmtree(self.folder, ignore_errors=True)
