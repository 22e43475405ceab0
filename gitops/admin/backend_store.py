"""The state backend's objects, read and written as the Pulumi CLI lays them out, for what gitops keeps beside
them (leases, audit notes) and reads from them (locks, the preview index).

Two backends are served: a folder (``file://``) and a PostgreSQL table (``postgres://``, pulumi/pulumi
``pkg/backend/diy/postgres``: one row per object, ``key`` the object's path, ``data`` a JSON object whose
``data`` is the object's bytes in base64, ``updated_at`` the time of its last write). Keys are ``/``-separated
paths relative to the backend's root (``.pulumi/locks/<org>/<project>/<stack>/<id>.json``). Any failure to
reach or write the backend is an ``OSError``, whichever the backend, so callers treat both alike. Other
backends (``s3://``, ...) get no store: ``backend_store`` returns None and gitops falls back to what the CLI
alone can do.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlparse, urlunparse

from gitops.core.errors import ConfigError

CHECKPOINTS = ".pulumi/stacks"  # a DIY backend's checkpoints: <project>/<stack>.json (pkg/backend/diy)
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
CONNECT_SECONDS = 5


@dataclass(frozen=True)
class Entry:
    key: str
    modified: datetime  # UTC, naive


def checkpoint_prefix(project: str) -> str:
    """Where a project's stack checkpoints live (the layout of a backend with ``.pulumi/meta.yaml`` version 1)."""
    return f"{CHECKPOINTS}/{project}/"


def checkpoint_key(project: str, stack: str) -> str:
    return f"{checkpoint_prefix(project)}{stack}.json"


class Store(Protocol):
    @property
    def where(self) -> str: ...

    def entries(self, prefix: str) -> list[Entry]:
        """Every object whose key starts with ``prefix``, with its last write time."""
        ...

    def read(self, key: str) -> str:
        """The object's text; ``FileNotFoundError`` when it is gone."""
        ...

    def read_all(self, prefix: str, suffix: str) -> dict[str, str]:
        """Every object whose key starts with ``prefix`` and ends with ``suffix``: key -> text, in one read
        where the backend allows it."""
        ...

    def write(self, key: str, text: str) -> None: ...

    def remove(self, key: str) -> None:
        """Remove the object; one already gone is not an error."""
        ...


def backend_url(environ: Mapping[str, str]) -> str | None:
    """The backend the CLI uses: ``PULUMI_BACKEND_URL``, else the one ``pulumi login`` recorded."""
    if environ.get("PULUMI_BACKEND_URL"):
        return environ["PULUMI_BACKEND_URL"]
    home = Path(environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
    try:
        current = json.loads((home / "credentials.json").read_text(encoding="utf-8")).get("current")
    except (OSError, ValueError, AttributeError):
        return None
    return current if isinstance(current, str) and current else None


def backend_store(environ: Mapping[str, str]) -> Store | None:
    """The store of the backend the CLI uses, where gitops can address its objects."""
    url = backend_url(environ)
    if not url:
        return None
    scheme = urlparse(url).scheme
    if scheme == "file":
        root = file_backend_root(url)
        return FileStore(root) if root is not None else None
    if scheme in ("postgres", "postgresql"):
        return PostgresStore.of(url)
    return None


def file_backend_root(url: str | None) -> Path | None:
    """The folder of a ``file://`` backend (``file://~`` is the home folder), else None."""
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.netloc + parsed.path)
    return Path(path).expanduser() if path else None


@dataclass(frozen=True)
class FileStore:
    root: Path

    @property
    def where(self) -> str:
        return f"file://{self.root}"

    def entries(self, prefix: str) -> list[Entry]:
        folder, _, _ = prefix.rpartition("/")
        found = []
        for path in (self.root / folder).rglob("*") if (self.root / folder).is_dir() else []:
            key = path.relative_to(self.root).as_posix()
            if not key.startswith(prefix):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if path.is_file():
                found.append(Entry(key, datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)))
        return sorted(found, key=lambda e: e.key)

    def read(self, key: str) -> str:
        return (self.root / key).read_text(encoding="utf-8")

    def read_all(self, prefix: str, suffix: str) -> dict[str, str]:
        found = {}
        for entry in self.entries(prefix):
            if entry.key.endswith(suffix):
                try:
                    found[entry.key] = self.read(entry.key)
                except FileNotFoundError:
                    continue
        return found

    def write(self, key: str, text: str) -> None:
        """Atomically (a rename), so a reader never sees half an object."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)

    def remove(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class PostgresStore:
    """The CLI's PostgreSQL table, through one connection kept for this process (a waiting release looks at
    the stack's locks every 0.2 s). Every call is one statement in autocommit: a row is written whole.

    The CLI prefixes every key with the URL's path (``postgres://.../gitops_prod`` -> ``gitops_prod/.pulumi/
    ...``: pkg/backend/diy/backend.go, ``blob.PrefixedBucket`` for every non-file URL); keys here are without it."""

    def __init__(self, conninfo: str, table: str, where: str, prefix: str = "") -> None:
        self.conninfo, self.table, self.where, self.prefix = conninfo, table, where, prefix
        self._connection: Any = None
        self._guard = threading.Lock()  # the lease keeper's thread and the main thread share the connection

    @classmethod
    def of(cls, url: str) -> PostgresStore:
        parsed = urlparse(url)
        query = dict(parse_qsl(parsed.query, keep_blank_values=True))
        table = query.pop("table", "pulumi_state") or "pulumi_state"
        if not TABLE_NAME.match(table):
            raise ConfigError(
                f"the backend URL's table={table[:80]!r} is not a plain table name (letters, digits, _): "
                "set PULUMI_BACKEND_URL to postgres://<role>@<host>/<database>?table=<name>"
            )
        conninfo = urlunparse(parsed._replace(scheme="postgresql", query=urlencode(query)))
        where = f"postgres://{parsed.hostname or ''}{f':{parsed.port}' if parsed.port else ''}{parsed.path}"
        subdir = unquote(parsed.path).lstrip("/")
        return cls(conninfo, table, f"{where} (table {table})", f"{subdir.rstrip('/')}/" if subdir else "")

    def _run(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        import psycopg  # only where the backend is PostgreSQL
        from psycopg import sql

        query = sql.SQL(statement).format(table=sql.Identifier(self.table))
        with self._guard:
            for attempt in (1, 2):  # a connection the server dropped (a restart) is opened again, once
                try:
                    if self._connection is None or self._connection.closed:
                        self._connection = psycopg.connect(
                            self.conninfo, autocommit=True, connect_timeout=CONNECT_SECONDS
                        )
                    cursor = self._connection.execute(query, params)
                    return list(cursor.fetchall()) if cursor.description else []
                except psycopg.OperationalError as exc:
                    self._connection = None
                    if attempt == 2:
                        raise OSError(f"the state backend {self.where} cannot be reached: {_first_line(exc)}") from None
                except psycopg.Error as exc:
                    raise OSError(f"the state backend {self.where} refused: {_first_line(exc)}") from None
        raise AssertionError("unreachable")

    def entries(self, prefix: str) -> list[Entry]:
        rows = self._run(
            "SELECT key, updated_at FROM {table} WHERE key LIKE %s ORDER BY key", (_like_prefix(self.prefix + prefix),)
        )
        return [Entry(str(key).removeprefix(self.prefix), _naive_utc(when)) for key, when in rows]

    def read(self, key: str) -> str:
        rows = self._run("SELECT data FROM {table} WHERE key = %s", (self.prefix + key,))
        if not rows:
            raise FileNotFoundError(key)
        return self._text(key, rows[0][0])

    def read_all(self, prefix: str, suffix: str) -> dict[str, str]:
        rows = self._run(
            "SELECT key, data FROM {table} WHERE key LIKE %s AND key LIKE %s",
            (_like_prefix(self.prefix + prefix), "%" + _like_escape(suffix)),
        )
        return {str(key).removeprefix(self.prefix): self._text(str(key), data) for key, data in rows}

    def _text(self, key: str, data: Any) -> str:
        blob = data if isinstance(data, dict) else json.loads(data)
        try:
            return base64.b64decode(blob["data"]).decode("utf-8")
        except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            raise OSError(f"the state backend {self.where} holds an unreadable object {key}: {exc}") from None

    def write(self, key: str, text: str) -> None:
        blob = json.dumps({"data": base64.b64encode(text.encode("utf-8")).decode("ascii")})
        self._run(
            "INSERT INTO {table} (key, data) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, updated_at = now()",
            (self.prefix + key, blob),
        )

    def remove(self, key: str) -> None:
        self._run("DELETE FROM {table} WHERE key = %s", (self.prefix + key,))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(prefix: str) -> str:
    return _like_escape(prefix) + "%"


def _naive_utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return datetime.fromisoformat(str(value)).replace(tzinfo=None)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
