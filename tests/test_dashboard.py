"""The release dashboard page, read from a backend's objects (a file backend laid out as the CLI lays it
out) and judged through an HTML parser, never by string search: what each cell says, that every hostile
text stays text, and that a backend that cannot be read is said in place."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from gitops.admin.backend_store import FileStore
from gitops.admin.drift_record import DriftCheck, drift_key, record_drift, resource_label
from gitops.cli import main
from gitops.core.errors import StateError
from gitops.dashboard.page import Links, render
from gitops.dashboard.read import EnvironmentView, read_environment
from tests.gitutil import GIT_ENV, GitRepo
from tests.harness import deploy_repo_copy

NOW = datetime(2026, 12, 6, 12, 0, 0)
C1, C2, C3 = "1" * 40, "2" * 40, "3" * 40
HOSTILE = '<script>alert("x")</script>"\'><img src=x onerror=alert(1)>'


class Page(HTMLParser):
    """The page's elements and text, as a browser's parser sees them; each row also under its table's id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[str] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table.append(dict(attrs).get("id") or "")
        if tag == "tr":
            self.rows.append([])
            self.tables.setdefault(self._table[-1] if self._table else "", []).append(self.rows[-1])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        if tag == "table" and self._table:
            self._table.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def row(self, first: str, table: str) -> list[str]:
        (found,) = [r for r in self.tables.get(table, []) if r and r[0] == first]
        return found

    def by_id(self, ident: str) -> dict[str, str | None]:
        (found,) = [attrs for _, attrs in self.tags if attrs.get("id") == ident]
        return found


def release(commit: str, **extra: Any) -> dict[str, Any]:
    return {"commit": commit, "branch": "master", "action": "deploy", "released_at": "2026-12-06T09:00:00Z",
            "actor": "alice", "pipeline": "https://gitlab.example.com/shop/web/-/pipelines/7",
            "digest": "sha256:" + "a" * 64, **extra}  # fmt: skip


def write_stack(root: Path, stack: str, outputs: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """A stack as the DIY backend keeps it: its checkpoint and one history file per update."""
    store = FileStore(root)
    resource = {"urn": f"urn:pulumi:{stack}::gitops::pulumi:pulumi:Stack::gitops-{stack}",
                "type": "pulumi:pulumi:Stack", "outputs": outputs}  # fmt: skip
    checkpoint = {"version": 3, "checkpoint": {"stack": stack, "latest": {"resources": [resource]}}}
    store.write(f".pulumi/stacks/gitops/{stack}.json", json.dumps(checkpoint))
    for n, update in enumerate(history):
        store.write(
            f".pulumi/history/gitops/{stack}/{stack}-{1765000000000000000 + n}.history.json", json.dumps(update)
        )


def update(message: str, result: str, config: dict[str, Any], start: int = 1765010000) -> dict[str, Any]:
    return {"kind": "update", "startTime": start, "endTime": start + 5, "message": message, "result": result,
            "environment": {}, "config": config, "version": 0}  # fmt: skip


@pytest.fixture()
def backend(tmp_path: Path) -> Path:
    root = tmp_path / "prod-state"
    hold = {"commits": [C2], "rolled_back_to": C1, "reason": "500s on checkout", "since": "2026-12-06T10:00:00Z"}
    write_stack(root, "prod", {
        "releases": {
            "web": release(C1, action="rollback", previous=C2),
            "api": release(C3, behind={"prod-us": {"commit": C2, "digest": "sha256:" + "b" * 64}}),
        },
        "previews": {}, "holds": {"web": hold},
        "secretish": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:x"},
    }, [
        update(f"deploy web@{C2[:8]} from master by alice", "succeeded", {"gitops:app": "web", "gitops:commit": C2}),
        update(f"rollback web to {C1[:8]} by bob", "succeeded", {"gitops:app": "web", "gitops:commit": C1,
               "gitops:action": "rollback", "gitops:appSecrets": {"secure": "v1:abc"}}),
        update("deploy api@33333333 from master by carol", "failed", {"gitops:app": "api", "gitops:commit": C3}),
    ])  # fmt: skip
    return root


def test_the_matrix_says_what_runs_where_with_holds_rollbacks_and_waves(backend: Path) -> None:
    view = read_environment("prod", FileStore(backend), "gitops", previews=False)
    links = Links("https://gitlab.example.com", {"web": "shop/web", "api": "shop/api"})
    page = Page(render([view], links, NOW))
    web = page.row("web", "releases-prod")
    assert web[1].startswith("ROLLED BACK HELD") and "held: 22222222; 500s on checkout" in web[1]
    assert web[2].startswith("11111111") and web[4] == "3 h ago" and web[5] == "alice"
    api = page.row("api", "releases-prod")
    assert api[1].startswith("MID-ROLLOUT") and "behind: prod-us at 22222222" in api[1]
    hrefs = [a.get("href") for tag, a in page.tags if tag == "a"]
    assert f"https://gitlab.example.com/shop/web/-/commit/{C1}" in hrefs
    assert "https://gitlab.example.com/shop/web/-/pipelines/7" in hrefs
    results = [r[1] for r in page.rows if len(r) == 7 and r[1] in ("succeeded", "failed")]
    assert results == ["failed", "succeeded", "succeeded"], "the timeline, newest first"
    assert not any(tag == "script" for tag, _ in page.tags) and "[secret]" not in "".join(page.text)


def test_hostile_branch_names_and_messages_render_as_text(tmp_path: Path) -> None:
    root = tmp_path / "state"
    preview = {"app": "web", "branch": "feature/" + HOSTILE[:60].replace(" ", "-"), "commit": C1,
               "namespace": "web-x", "url": "javascript:alert(1)", "last_deployed": "2026-12-06T11:00:00Z",
               "actor": HOSTILE}  # fmt: skip
    write_stack(root, "preview-web-x-1", {"releases": {}, "holds": {}, "previews": {"web-x": preview}}, [])
    write_stack(root, "preview", {"releases": {}, "holds": {}, "previews": {}}, [
        update(HOSTILE, "succeeded", {"gitops:app": HOSTILE}),
    ])  # fmt: skip
    view = read_environment("preview", FileStore(root), "gitops", previews=True)
    html = render([view], Links("https://gitlab.example.com", {}), NOW, ttl_hours=72)
    page = Page(html)
    assert not any(tag in ("script", "img") for tag, _ in page.tags), "markup from the backend stays text"
    assert not any((a.get("href") or "").startswith("javascript:") for tag, a in page.tags if tag == "a")
    assert HOSTILE in "".join(page.text), "shown as written"
    row = page.row(preview["branch"], "previews-web")
    assert row[1] == "javascript:alert(1)" and row[3] == "1 h ago" and row[4] == "71 h"


def test_an_environment_that_cannot_be_read_says_so_in_place(backend: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    FileStore(broken).write(".pulumi/stacks/gitops/staging.json", "{not json")
    views = [
        read_environment("prod", FileStore(backend), "gitops", previews=False),
        read_environment("staging", FileStore(broken), "gitops", previews=False),
        EnvironmentView("preview", "-", problem="no backend given (GITOPS_STATE_URL_PREVIEW)"),
    ]
    page = Page(render(views, Links("", {}), NOW))
    alerts = [a for tag, a in page.tags if a.get("role") == "alert"]
    assert len(alerts) == 2
    text = " ".join(page.text)
    assert "Stack staging: its checkpoint is unreadable" in text and "no backend given" in text
    assert page.row("web", "releases-prod")[2].startswith("11111111"), "prod still shows"


def test_the_command_writes_one_self_contained_page(
    backend: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gitops.cli.PROJECT_ROOT", deploy_repo_copy(tmp_path / "deploy"))
    monkeypatch.setenv("GITOPS_STATE_URL_PROD", f"file://{backend}")
    monkeypatch.delenv("GITOPS_STATE_URL_STAGING", raising=False)
    monkeypatch.setenv("GITOPS_STATE_URL_PREVIEW", "s3://bucket")
    out = tmp_path / "public"
    assert main(["dashboard", "--out", str(out), "--now", NOW.isoformat()]) == 0
    page = Page((out / "index.html").read_text(encoding="utf-8"))
    assert [name for name in (p.name for p in out.iterdir())] == ["index.html"]
    assert not any(tag in ("script", "link", "img") for tag, _ in page.tags), "no script, no external asset"
    assert page.row("web", "releases-prod")[1].startswith("ROLLED BACK")
    text = " ".join(page.text)
    assert "no backend given (GITOPS_STATE_URL_STAGING)" in text and "file:// and postgres://" in text


def test_the_matrix_has_a_column_per_cluster_and_says_where_drift_was_found(backend: Path) -> None:
    store = FileStore(backend)
    drift = DriftCheck("2026-12-06T10:00:00Z", {"update": 1}, ("Deployment web",), "https://gitlab.example.com/p/1")
    record_drift(store, "gitops", "prod", drift)
    view = read_environment("prod", store, "gitops", previews=False)
    page = Page(render([view], Links("", {}), NOW, clusters={"prod": ["prod-eu", "prod-us"]}))
    assert page.tables["matrix"][0] == ["App", "prod / prod-euDRIFT", "prod / prod-usDRIFT"]
    assert page.row("api", "matrix") == ["api", "33333333 MID-ROLLOUT", "22222222 BEHIND"], "each cluster's commit"
    assert page.row("web", "matrix") == ["web", "11111111 ROLLED BACK HELD", "11111111 ROLLED BACK HELD"]
    one_cluster = {"commit": C1, "rolled_back": True}
    write_stack(
        backend,
        "prod",
        {"releases": {"web": release(C2, behind={"prod-us": one_cluster})}, "previews": {}, "holds": {}},
        [],
    )
    view = read_environment("prod", store, "gitops", previews=False)
    page = Page(render([view], Links("", {}), NOW, clusters={"prod": ["prod-eu", "prod-us"]}))
    assert page.row("web", "matrix") == ["web", "22222222 ONE CLUSTER ROLLED BACK", "11111111 ROLLED BACK"]
    drift_text = " ".join("".join(page.text).split())
    assert "DRIFT a refresh would make 1 update, found 2 h ago (the drift job)" in drift_text
    assert "Deployment web" in page.text


def test_a_clean_drift_check_an_unreadable_one_and_none_each_say_so(backend: Path, tmp_path: Path) -> None:
    record_drift(FileStore(backend), "gitops", "prod", DriftCheck("2026-12-06T11:30:00Z"))
    broken = tmp_path / "staging-state"
    write_stack(broken, "staging", {"releases": {}, "holds": {}, "previews": {}}, [])
    FileStore(broken).write(drift_key("gitops", "staging"), '{"checked_at": "x", "changes": {"update": "<b>"}}')
    never = tmp_path / "preview-state"
    write_stack(never, "preview", {"releases": {}, "holds": {}, "previews": {}}, [])
    views = [read_environment("prod", FileStore(backend), "gitops", previews=False),
             read_environment("staging", FileStore(broken), "gitops", previews=False),
             read_environment("preview", FileStore(never), "gitops", previews=True)]  # fmt: skip
    text = " ".join("".join(Page(render(views, Links("", {}), NOW)).text).split())
    assert "NO DRIFT last checked 30 min ago" in text
    assert "The last drift check cannot be read: the drift record is malformed (ValueError" in text
    assert "Drift: no drift check recorded yet." in text


def test_a_held_lock_and_an_interrupted_update_show_on_their_stack(backend: Path, tmp_path: Path) -> None:
    deployment = "kubernetes:apps/v1:Deployment"
    resource = {"urn": f"urn:pulumi:staging::gitops::{deployment}::web", "type": deployment,
                "inputs": {"metadata": {"name": "web"}}}  # fmt: skip
    pending = [{"type": "creating", "resource": resource}]
    root = tmp_path / "staging-state"
    for stack in ("staging", "preview-web-a-1"):
        outputs = {"releases": {"web": release(C1)}, "holds": {}, "previews": {}}
        write_stack(root, stack, outputs, [])
        store = FileStore(root)
        checkpoint = json.loads(store.read(f".pulumi/stacks/gitops/{stack}.json"))
        checkpoint["checkpoint"]["latest"]["pending_operations"] = pending
        store.write(f".pulumi/stacks/gitops/{stack}.json", json.dumps(checkpoint))
    FileStore(root).write(".pulumi/locks/organization/gitops/staging/0b1f.json", "{}")
    staging = Page(render([read_environment("staging", FileStore(root), "gitops", previews=False)], Links("", {}), NOW))
    alert = " ".join("".join(staging.text).split())
    assert "LOCKED: an update holds the lock since 0 min ago" in alert
    assert "IN FLIGHT: steps an update left pending: creating Deployment web" in alert
    preview = Page(render([read_environment("preview", FileStore(root), "gitops", previews=True)], Links("", {}), NOW))
    assert "INTERRUPTED: steps an update left pending: creating Deployment web" in " ".join(preview.text)


def test_a_thousand_previews_are_grouped_per_app_and_start_collapsed(tmp_path: Path) -> None:
    root = tmp_path / "state"
    for n in range(120):
        app = ("web", "api", "cart")[n % 3]
        preview = {"app": app, "branch": f"feature/f-{n}", "commit": C1, "namespace": f"{app}-f-{n}",
                   "url": f"https://{app}-f-{n}.preview.example.com",
                   "last_deployed": "2026-12-06T11:00:00Z"}  # fmt: skip
        write_stack(
            root, f"preview-{app}-f-{n}", {"releases": {}, "holds": {}, "previews": {f"{app}-f-{n}": preview}}, []
        )
    page = Page(render([read_environment("preview", FileStore(root), "gitops", previews=True)], Links("", {}), NOW))
    details = [attrs for tag, attrs in page.tags if tag == "details"]
    assert len(details) == 3 and not any("open" in attrs for attrs in details), "one collapsed group per app"
    assert [len(page.tables[f"previews-{app}"]) - 1 for app in ("api", "cart", "web")] == [40, 40, 40]
    assert page.row("web", "matrix") == ["web", "40 live"]
    assert "120 live preview(s) of 3 app(s)" in page.text


def test_a_drift_record_is_parsed_as_untrusted_input() -> None:
    check = DriftCheck.parse(json.dumps({"checked_at": "2026-12-06T10:00:00Z", "changes": {"update": 2},
                                         "resources": ["x" * 1000] * 50, "pipeline": 7}))  # fmt: skip
    assert check.drifted and len(check.resources) == 20 and len(check.resources[0]) == 300 and check.pipeline == "7"
    for bad in ("[]", "{}", '{"checked_at": "t", "changes": {"update": -1}}', '{"checked_at": "t", "changes": 3}'):
        with pytest.raises(StateError, match="drift record is malformed"):
            DriftCheck.parse(bad)
    assert resource_label("urn:pulumi:prod::gitops::gitops:app:Application$kubernetes:apps/v1:Deployment::web") == (
        "kubernetes:apps/v1:Deployment web"
    )


def dashboard_clone_command() -> list[str]:
    """The clone command of ci/dashboard.sh, as the pages job runs it."""
    script = (Path(__file__).resolve().parent.parent / "ci" / "dashboard.sh").read_text(encoding="utf-8")
    (line,) = [text for text in script.splitlines() if text.startswith("clone=(")]
    return shlex.split(line.removeprefix("clone=(").removesuffix(")"))


def test_each_release_lists_the_merge_requests_it_shipped_from_the_jobs_treeless_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real repository with GitLab's merge commits, cloned by ci/dashboard.sh's own command over file://
    (whose upload-pack filters as GitLab's does); the page links the MRs between the release before and this."""
    repo = GitRepo(tmp_path / "web")
    previous = repo.commit("released before")
    for iid, branch in ((7, "feature/a"), (9, "feature/b")):
        repo.branch_with_commit(branch, "master", f"work on {branch}")
        repo.git("merge", "-q", "--no-ff", "-m", f"Merge branch '{branch}'\n\nSee merge request shop/web!{iid}", branch)
    repo.git(
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge\n\nSee merge request other/project!3",
        repo.branch_with_commit("feature/c", "master"),
    )  # fmt: skip  (another project's MR is not web's)
    current = repo.head()
    repo.git("config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "clone"
    subprocess.run(
        [*dashboard_clone_command(), f"file://{repo.path}", str(clone)], check=True, env={**os.environ, **GIT_ENV}
    )
    state = tmp_path / "state"
    write_stack(state, "prod", {"releases": {"web": release(current, previous=previous), "api": release(C1)},
                                "previews": {}, "holds": {}}, [])  # fmt: skip
    monkeypatch.setattr("gitops.cli.PROJECT_ROOT", deploy_repo_copy(tmp_path / "deploy"))
    monkeypatch.setenv("GITOPS_STATE_URL_PROD", f"file://{state}")
    out = tmp_path / "public"

    assert main(["dashboard", "--out", str(out), "--now", NOW.isoformat(), "--repo", f"web={clone}"]) == 0

    page = Page((out / "index.html").read_text(encoding="utf-8"))
    assert page.row("web", "releases-prod")[-1] == "!7 !9"
    hrefs = [a.get("href") for tag, a in page.tags if tag == "a"]
    assert "https://gitlab.example.com/shop/web/-/merge_requests/9" in hrefs
    assert page.row("api", "releases-prod")[-1] == "unknown: no clone of the app was given"


def test_the_timeline_shows_the_notes_under_an_update_and_marks_an_interruption(tmp_path: Path) -> None:
    note = "an earlier update was interrupted (left pending: updating Deployment web); staging/web ran 22222222"
    message = f"deploy web@33333333 from latest by carol (pipeline -)\n{note}\nbroke a lock of staging (stale)"
    write_stack(tmp_path / "s", "staging", {"releases": {"web": release(C3)}, "previews": {}, "holds": {}},
                [update(message, "succeeded", {"gitops:app": "web", "gitops:commit": C3})])  # fmt: skip
    page = Page(render([read_environment("staging", FileStore(tmp_path / "s"), "gitops", previews=False)],
                       Links("", {}), NOW))  # fmt: skip
    shown = page.tables["timeline-staging"][1][6]
    assert shown.startswith("deploy web@33333333 from latest by carol")
    assert f"INTERRUPTED {note}" in shown and "broke a lock of staging (stale)" in shown


def test_a_checkpoint_stored_compressed_is_named_not_skipped(tmp_path: Path) -> None:
    """PULUMI_DIY_BACKEND_GZIP: the CLI writes <stack>.json.gz; the page reads plain checkpoints only and says so."""
    store = FileStore(tmp_path / "state")
    for stack in ("staging", "preview-web-a-1"):
        store.write(f".pulumi/stacks/gitops/{stack}.json.gz", "\x1f\x8b compressed")
    staging = Page(render([read_environment("staging", store, "gitops", previews=False)], Links("", {}), NOW))
    preview = Page(render([read_environment("preview", store, "gitops", previews=True)], Links("", {}), NOW))
    assert "Stack staging: its checkpoint is stored compressed (PULUMI_DIY_BACKEND_GZIP)" in " ".join(staging.text)
    assert "preview-web-a-1: its checkpoint is stored compressed" in " ".join(preview.text)
