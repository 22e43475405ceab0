"""The deploy repo as GitOps: an MR shows per stack what merging would change; merging applies it.

The Pulumi CLI is the fake at the boundary (tests/fake_pulumi.py); its ``preview`` runs the real program
under the mock engine and compares the registrations with the last update's. The MR note goes to the
GitLab stand-in on 127.0.0.1 (tests/servers.py), through python-gitlab, over real HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops.admin.plan import MARKER
from gitops.admin.stack import StackAdmin
from gitops.cli import main
from tests.fake_pulumi import FakeBackend, FakePulumiCommand
from tests.gitutil import GitRepo
from tests.harness import ROOT, digest_of
from tests.servers import GitLabStandIn, Note

TOKEN = "glpat-plan-token-123456"


@pytest.fixture()
def prod(web_repo: tuple[GitRepo, dict[str, str]]) -> FakeBackend:
    git, shas = web_repo
    backend = FakeBackend("prod", ROOT)
    admin = StackAdmin("prod", ROOT, FakePulumiCommand(backend))
    admin.release({"action": "init"}, "init", on_output=lambda _: None)
    event = {"app": "web", "commit": shas["master"], "sourceRepo": str(git.path), "digest": digest_of(shas["master"])}
    admin.release(event, "deploy web", on_output=lambda _: None)
    return backend


def test_plan_shows_what_a_settings_change_would_change(prod: FakeBackend, tmp_path: Path) -> None:
    out = tmp_path / "plans" / "prod.md"
    assert main(["plan", "--stack", "prod", "--out", str(out)], pulumi_command=FakePulumiCommand(prod)) == 0
    assert out.read_text().startswith("### `prod`: no changes (")
    prod.config["gitops:overrides"] = json.dumps({"web": {"replicas": 5}})  # the MR's settings change
    history = len(prod.history)
    assert main(["plan", "--stack", "prod", "--out", str(out)], pulumi_command=FakePulumiCommand(prod)) == 0
    plan = out.read_text()
    assert plan.startswith("### `prod`: 2 to update (") and "~ urn:pulumi:prod::gitops::" in plan
    assert plan.count("kubernetes:apps/v1:Deployment::prod-") == 2, "the Deployment on both clusters"
    assert len(prod.history) == history, "a plan changes nothing"


def test_apply_updates_the_stack_with_no_release_event(prod: FakeBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI_COMMIT_SHA", "d" * 40)
    releases = prod.outputs["releases"]
    prod.config["gitops:overrides"] = json.dumps({"web": {"replicas": 5}})
    assert main(["apply", "--stack", "prod"], pulumi_command=FakePulumiCommand(prod)) == 0
    last = prod.history[-1]
    assert last["result"] == "succeeded" and last["message"].startswith("apply deploy repo dddddddd by ")
    assert "gitops:app" not in last["config"], "no release event"
    assert prod.outputs["releases"] == releases
    assert prod.last_result is not None
    deployments = [r for r in prod.last_result.manifests if r["kind"] == "Deployment"]
    assert {d["spec"]["replicas"] for d in deployments} == {5}


def test_plan_note_is_one_note_edited_in_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    with GitLabStandIn(TOKEN, "platform/deploy") as gl:
        gl.state.notes[7] = [Note(1, f"{MARKER}\nwritten by a person", "alice")]
        for key, value in {
            "CI_API_V4_URL": gl.url + "/api/v4",
            "CI_PROJECT_ID": "platform/deploy",
            "CI_MERGE_REQUEST_IID": "7",
            "GITOPS_NOTIFY_TOKEN": TOKEN,
            "CI_COMMIT_SHA": "a" * 40,
            "CI_PIPELINE_URL": "https://gitlab.example.com/platform/deploy/-/pipelines/5",
        }.items():
            monkeypatch.setenv(key, value)
        (plans / "prod.md").write_text("### `prod`: 2 to update (40 unchanged)\n")
        assert main(["plan-note", "--plans", str(plans)]) == 0
        (plans / "staging.md").write_text("### `staging`: no changes (21 unchanged)\n")
        monkeypatch.setenv("CI_COMMIT_SHA", "b" * 40)
        assert main(["plan-note", "--plans", str(plans)]) == 0
        notes = gl.state.notes[7]
    assert notes[0].body == f"{MARKER}\nwritten by a person", "a person's note is never edited"
    ours = [n for n in notes if n.author == gl.state.bot]
    assert len(ours) == 1, "one note, edited in place"
    body = ours[0].body
    assert body.startswith(MARKER) and "Planned at `bbbbbbbb`" in body and "Not planned: preview" in body
    assert body.index("### `staging`") < body.index("### `prod`")


def test_plan_note_outside_an_mr_pipeline_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI_MERGE_REQUEST_IID", raising=False)
    assert main(["plan-note", "--plans", str(tmp_path)]) == 2
    assert "plan-note runs in an MR pipeline of the deploy repo; missing: " in capsys.readouterr().err
