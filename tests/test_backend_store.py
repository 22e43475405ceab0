"""The backend's objects as gitops reads and writes them, on a folder and on a real PostgreSQL server (Debian's
``postgresql``, started for this module): the same keys, the same answers, and the CLI's own layout (a key
prefixed with the URL's database, the data base64 in a JSON object)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops.admin.backend_store import FileStore, PostgresStore, Store, backend_store
from gitops.admin.locks import BackendLocks
from gitops.admin.previews import checkpoint_stacks, shown_outputs
from gitops.core.errors import ConfigError
from gitops.localcluster.postgres import LocalPostgres
from tests.conftest import postgres_server


@pytest.fixture(scope="module")
def server() -> Iterator[LocalPostgres]:
    yield from postgres_server()


@pytest.fixture(params=["file", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "file":
        return FileStore(tmp_path / "backend")
    server: LocalPostgres = request.getfixturevalue("server")
    name = f"t{abs(hash(str(tmp_path))) % 10**8}"
    url = server.create_environments(name, ["staging"])["staging"].url
    found = backend_store({"PULUMI_BACKEND_URL": url})
    assert isinstance(found, PostgresStore)
    found._run(
        "CREATE TABLE {table} (key TEXT PRIMARY KEY, data JSON NOT NULL, updated_at TIMESTAMPTZ "
        "NOT NULL DEFAULT now())",
        (),
    )  # fmt: skip  (what the CLI creates on first use: schema.sql)
    return found


def test_objects_are_written_read_listed_and_removed(store: Store) -> None:
    store.write(".gitops/leases/organization/gitops/staging/a.json", '{"pid": 1}')
    store.write(".gitops/leases/organization/gitops/staging/b.json", '{"pid": 2}')
    store.write(".gitops/leases/organization/gitops/staging_x/c.json", "other stack")  # `_` is no wildcard
    listed = [e.key for e in store.entries(".gitops/leases/organization/gitops/staging/")]
    assert listed == [
        ".gitops/leases/organization/gitops/staging/a.json",
        ".gitops/leases/organization/gitops/staging/b.json",
    ]
    assert store.read(listed[1]) == '{"pid": 2}'
    store.write(listed[1], '{"pid": 3}')  # a renewal replaces the object whole
    assert store.read_all(".gitops/leases/organization/gitops/staging/", ".json") == {
        listed[0]: '{"pid": 1}',
        listed[1]: '{"pid": 3}',
    }
    store.remove(listed[0])
    store.remove(listed[0])  # already gone: not an error
    with pytest.raises(FileNotFoundError):
        store.read(listed[0])
    assert [e.key for e in store.entries(".gitops/leases/")] == [
        ".gitops/leases/organization/gitops/staging/b.json",
        ".gitops/leases/organization/gitops/staging_x/c.json",
    ]


def test_a_lock_the_cli_wrote_in_postgres_is_read_where_the_cli_put_it(server: LocalPostgres) -> None:
    """The CLI's row: key prefixed with the URL's database, data ``{"data": base64}`` (pkg/backend/diy/
    postgres/bucket.go); gitops finds it under the key the file backend would use."""
    url = server.create_environments("locks", ["prod"])["prod"].url
    store = backend_store({"PULUMI_BACKEND_URL": url})
    assert isinstance(store, PostgresStore) and store.prefix == "locks_prod/"
    store._run("CREATE TABLE {table} (key TEXT PRIMARY KEY, data JSON NOT NULL, updated_at TIMESTAMPTZ "
               "NOT NULL DEFAULT now())", ())  # fmt: skip
    lock = {"pid": 4242, "username": "ci", "hostname": "runner-7", "timestamp": "2026-12-06T07:00:00Z"}
    blob = json.dumps({"data": base64.b64encode(json.dumps(lock).encode()).decode()})
    key = "locks_prod/.pulumi/locks/organization/gitops/prod/0b6f.json"
    store._run("INSERT INTO {table} (key, data) VALUES (%s, %s)", (key, blob))
    locks = BackendLocks.of({"PULUMI_BACKEND_URL": url}, "gitops", "prod")
    assert locks is not None
    (found,) = locks.locks()
    assert (found.key, found.pid, found.host) == (".pulumi/locks/organization/gitops/prod/0b6f.json", 4242, "runner-7")
    assert BackendLocks.of({"PULUMI_BACKEND_URL": url}, "gitops", "staging").locks() == []  # type: ignore[union-attr]
    locks.remove(found.key)
    assert locks.locks() == []


def test_an_unreachable_server_is_an_os_error_naming_the_backend(server: LocalPostgres) -> None:
    store = PostgresStore.of(f"postgres://nobody:x@127.0.0.1:{server.port + 1 if server.port < 65535 else 1}/db")
    with pytest.raises(OSError, match="cannot be reached"):
        store.entries(".pulumi/locks/")


def test_a_table_name_that_is_not_a_plain_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="table='state; DROP TABLE x'"):
        PostgresStore.of("postgres://u:p@127.0.0.1:5432/db?table=state; DROP TABLE x")


def test_no_store_where_gitops_cannot_address_the_objects() -> None:
    assert backend_store({"PULUMI_BACKEND_URL": "s3://bucket?endpoint=oss.example.com"}) is None
    assert isinstance(backend_store({"PULUMI_BACKEND_URL": "file:///srv/state"}), FileStore)


def test_the_stack_index_reads_stack_names_from_checkpoint_keys(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    for key in (
        ".pulumi/stacks/gitops/preview-web-a-1.json",
        ".pulumi/stacks/gitops/preview-web-a-1.json.bak",  # a backup, not a stack
        ".pulumi/stacks/gitops/preview-web-b-2.json.gz",
        ".pulumi/stacks/gitops/staging.json",
        ".pulumi/stacks/gitops/deeper/x.json",
    ):
        store.write(key, "{}")
    found = checkpoint_stacks(store.entries(".pulumi/stacks/gitops/"), ".pulumi/stacks/gitops/")
    assert sorted(found) == ["preview-web-a-1", "preview-web-b-2", "staging"]


def test_secret_outputs_read_from_a_checkpoint_show_as_the_cli_shows_them() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"}
    assert shown_outputs({"a": {"b": secret, "c": [1, secret]}, "d": "plain"}) == {
        "a": {"b": "[secret]", "c": [1, "[secret]"]},
        "d": "plain",
    }
