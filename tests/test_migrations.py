"""Positional names are migrated from what the old state recorded, never from today's configuration (#17, 4).

The state comes from the fake CLI's ``stack export`` (GitLab resources cannot be created here: no GitLab
and no GitLab provider plugin); the real CLI's ``state rename`` on such a state is exercised in
tests/e2e/test_e2e_admin.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops.admin.stack import StackAdmin
from gitops.cli import main
from gitops.core.errors import StateError
from gitops.core.migrations import positional_renames
from tests.fake_pulumi import FakeBackend, FakePulumiCommand
from tests.gitutil import GitRepo
from tests.harness import ROOT, digest_of
from tests.test_gitlab_gate import FREEZES, GITLAB_PROD, app_block, gate, of

GATE = "urn:pulumi:{stack}::gitops::gitops:gitlab:ReleaseGate"
VARIABLE = "gitlab:index/projectVariable:ProjectVariable"
FREEZE = "gitlab:index/projectFreezePeriod:ProjectFreezePeriod"


def old_variable(stack: str, index: int, project: str, key: str) -> dict[str, Any]:
    name = f"{stack}-var-{index}-{key.lower()}"
    inputs = {"project": project, "key": key, "environmentScope": "staging"}
    return {"urn": f"{GATE.format(stack=stack)}${VARIABLE}::{name}", "type": VARIABLE, "inputs": inputs}


def old_freeze(app: str, index: int, window: dict[str, str]) -> dict[str, Any]:
    inputs = {"project": f"shop/{app}", "freezeStart": window["start"], "freezeEnd": window["end"]}
    inputs["cronTimezone"] = window.get("timezone", "UTC")
    return {"urn": f"{GATE.format(stack='prod')}${FREEZE}::prod-{app}-freeze-{index}", "type": FREEZE, "inputs": inputs}


# A staging stack last updated when the catalog held api and web: positions 0, 1, then the deploy project.
OLD_ORDER = ["shop/api", "shop/web", "platform/deploy"]
KEYS = ["KUBECONFIG_B64", "PULUMI_ACCESS_TOKEN"]
OLD_STAGING = [old_variable("staging", i, project, key) for i, project in enumerate(OLD_ORDER) for key in KEYS]


def test_variables_get_the_names_of_their_recorded_project_even_after_an_app_was_added(tmp_path: Path) -> None:
    """With app aaa added (sorted first), position 0 is aaa today: an alias from today's catalog would have
    handed api's old variable to aaa. The rename follows the project each old variable recorded."""
    catalog = tmp_path / "apps.yaml"
    catalog.write_text("apps:\n" + "".join(app_block(a) for a in ("aaa", "api", "web")), encoding="utf-8")
    today = {(v.inputs["project"], v.inputs["key"]): v.name for v in of(gate("staging", extra={
        "gitops:catalog": str(catalog), "gitops:overrides": "{}"}), "ProjectVariable")}  # fmt: skip
    renames = positional_renames({"resources": OLD_STAGING})
    assert len(renames) == len(OLD_STAGING) == 6
    for rename, old in zip(renames, OLD_STAGING, strict=True):
        assert rename.new_name == today[(old["inputs"]["project"], old["inputs"]["key"])]
    assert renames[0].old_name == "staging-var-0-kubeconfig_b64"
    assert renames[0].new_name == "staging-var-shop/api-kubeconfig_b64"  # not shop/aaa's


def test_freezes_get_the_names_of_their_recorded_window(tmp_path: Path) -> None:
    """The freeze list changed order since: positions would swap the two windows; the recorded ones do not."""
    old = [old_freeze("web", 0, FREEZES[1]), old_freeze("web", 1, FREEZES[0])]
    prod = gate("prod", extra={"gitops:gitlab": json.dumps({**json.loads(GITLAB_PROD), "freezes": FREEZES})})
    today = {(f.inputs["project"], f.inputs["freezeStart"]): f.name for f in of(prod, "ProjectFreezePeriod")}
    renames = positional_renames({"resources": old})
    assert [r.new_name for r in renames] == [
        today[("shop/web", FREEZES[1]["start"])],
        today[("shop/web", FREEZES[0]["start"])],
    ]
    assert (
        positional_renames(
            {"resources": [{**old[0], "urn": old[0]["urn"].rsplit("::", 1)[0] + "::" + renames[0].new_name}]}
        )
        == []
    )


@pytest.mark.parametrize(
    "broken",
    [
        {**OLD_STAGING[0], "inputs": {"key": "KUBECONFIG_B64"}},  # no project
        {**OLD_STAGING[0], "inputs": {"project": "shop/api", "key": "OTHER"}},  # key does not match the name
        {**old_freeze("web", 0, FREEZES[0]), "inputs": {"project": "shop/web"}},  # no window
    ],
)
def test_a_state_the_migration_does_not_understand_is_refused_whole(broken: dict[str, Any]) -> None:
    with pytest.raises(StateError, match="repair it by hand"):
        positional_renames({"resources": [*OLD_STAGING[1:], broken]})


def test_a_new_name_the_state_already_holds_is_refused() -> None:
    taken = {
        **OLD_STAGING[0],
        "urn": OLD_STAGING[0]["urn"].rsplit("::", 1)[0] + "::staging-var-shop/api-kubeconfig_b64",
    }
    with pytest.raises(StateError, match="already holds"):
        positional_renames({"resources": [OLD_STAGING[0], taken]})


def staging(tmp_path: Path) -> FakeBackend:
    backend = FakeBackend("staging", ROOT)
    StackAdmin("staging", ROOT, FakePulumiCommand(backend)).release({"action": "init"}, "init", lambda _: None)
    backend.state_resources = [dict(r) for r in OLD_STAGING]
    return backend


def names(backend: FakeBackend) -> list[str]:
    return [r["urn"].rsplit("::", 1)[-1] for r in backend.state_resources]


def test_migrate_dry_run_renames_nothing_and_migrate_renames_in_the_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = staging(tmp_path)
    before = names(backend)
    assert main(["migrate", "--stack", "staging", "--dry-run"], pulumi_command=FakePulumiCommand(backend)) == 0
    assert names(backend) == before and "would rename staging-var-0-kubeconfig_b64 -> " in capsys.readouterr().out
    assert main(["migrate", "--stack", "staging"], pulumi_command=FakePulumiCommand(backend)) == 0
    assert (
        names(backend)[0] == "staging-var-shop/api-kubeconfig_b64"
        and "6 resource(s) renamed" in capsys.readouterr().out
    )
    made = len(backend.calls)
    assert main(["migrate", "--stack", "staging"], pulumi_command=FakePulumiCommand(backend)) == 0
    assert backend.calls[made:], "the state was read"
    assert not any(c[:2] == ["state", "rename"] for c in backend.calls[made:]), "a migrated state needs nothing"


def test_every_untargeted_update_migrates_first_and_a_targeted_release_does_not(tmp_path: Path) -> None:
    backend = staging(tmp_path)
    StackAdmin("staging", ROOT, FakePulumiCommand(backend)).release({}, "apply", lambda _: None)
    renamed = [i for i, c in enumerate(backend.calls) if c[:2] == ["state", "rename"]]
    update = next(i for i, c in enumerate(backend.calls) if c[0] == "up" and i > renamed[0])
    assert len(renamed) == 6 and max(renamed) < update, "renamed before the update"

    repo = GitRepo(tmp_path / "web")
    repo.git("branch", "latest")
    backend.state_resources = [dict(r) for r in OLD_STAGING]
    calls = len(backend.calls)
    argv = ["release", "--stack", "staging", "--app", "web", "--branch", "latest", "--commit", repo.head()]
    assert (
        main(
            [*argv, "--digest", digest_of(repo.head()), "--repo", str(repo.path)],
            pulumi_command=FakePulumiCommand(backend),
        )
        == 0
    )
    assert backend.targets[-1], "a targeted release"
    assert not any(c[:2] == ["state", "rename"] for c in backend.calls[calls:])
    exports = [c for c in backend.calls[calls:] if c[:2] == ["stack", "export"]]
    assert len(exports) == 1, "one read of the state before the release (outputs and pending operations), no more"
