"""The release event contract: gitops:app / commit / branch / action."""

import pytest

from gitops.core.catalog import load_catalog
from gitops.core.environments import ENVIRONMENTS
from gitops.core.errors import BaselineError, ConfigError
from gitops.core.event import Action, event_from_config
from tests.harness import ROOT

CATALOG = load_catalog(ROOT / "apps.yaml")
SHA = "a" * 40
DIGEST = "sha256:" + "b" * 64


def test_no_event_keys_means_reapply() -> None:
    assert event_from_config(ENVIRONMENTS["prod"], {}, CATALOG) is None


def test_branch_defaults_to_the_stack_branch() -> None:
    event = event_from_config(ENVIRONMENTS["prod"], {"app": "web", "commit": SHA.upper(), "digest": DIGEST}, CATALOG)
    assert event is not None
    assert (event.branch, event.commit, event.action, event.digest) == ("master", SHA, Action.DEPLOY, DIGEST)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_require_an_image_digest_and_previews_do_not(stack: str) -> None:
    with pytest.raises(ConfigError, match=f"gitops:digest is required for deploy in {stack}"):
        event_from_config(ENVIRONMENTS[stack], {"app": "web", "commit": SHA}, CATALOG)
    preview = event_from_config(ENVIRONMENTS["preview"], {"app": "web", "commit": SHA, "branch": "f"}, CATALOG)
    assert preview is not None and preview.digest is None


@pytest.mark.parametrize("bad", ["sha256:abc", "md5:" + "a" * 64, "sha256:" + "A" * 64, "latest"])
def test_a_malformed_digest_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="is not an image digest"):
        event_from_config(ENVIRONMENTS["prod"], {"app": "web", "commit": SHA, "digest": bad}, CATALOG)


def test_short_sha_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a full 40-hex commit SHA"):
        event_from_config(ENVIRONMENTS["prod"], {"app": "web", "commit": "abc1234", "digest": DIGEST}, CATALOG)


def test_unknown_app_lists_known_apps() -> None:
    with pytest.raises(ConfigError, match="gitops:app 'shop' is not in the app catalog; known apps: api, web"):
        event_from_config(ENVIRONMENTS["prod"], {"app": "shop", "commit": SHA}, CATALOG)


def test_prod_refuses_other_branch_name() -> None:
    with pytest.raises(BaselineError, match="prod deploys only branch 'master', not 'latest'"):
        event_from_config(ENVIRONMENTS["prod"], {"app": "web", "commit": SHA, "branch": "latest"}, CATALOG)


@pytest.mark.parametrize("branch", ["master", "latest"])
def test_preview_refuses_protected_branches(branch: str) -> None:
    with pytest.raises(BaselineError, match=f"preview does not deploy branch '{branch}'"):
        event_from_config(ENVIRONMENTS["preview"], {"app": "web", "commit": SHA, "branch": branch}, CATALOG)


def test_preview_requires_branch() -> None:
    with pytest.raises(ConfigError, match="gitops:branch is required"):
        event_from_config(ENVIRONMENTS["preview"], {"app": "web", "commit": SHA}, CATALOG)


def test_stop_needs_no_commit_and_is_preview_only() -> None:
    event = event_from_config(ENVIRONMENTS["preview"], {"app": "web", "branch": "gone", "action": "stop"}, CATALOG)
    assert event is not None and event.commit is None
    with pytest.raises(ConfigError, match="stop is for preview only"):
        event_from_config(ENVIRONMENTS["prod"], {"app": "web", "action": "stop"}, CATALOG)


def test_unknown_action_lists_choices() -> None:
    with pytest.raises(ConfigError, match="'ship' is not one of: deploy, stop, rollback, clear-hold"):
        event_from_config(ENVIRONMENTS["prod"], {"app": "web", "commit": SHA, "action": "ship"}, CATALOG)


def test_rollback_requires_reason() -> None:
    with pytest.raises(ConfigError, match="gitops:reason is required"):
        event_from_config(ENVIRONMENTS["prod"], {"app": "web", "commit": SHA, "action": "rollback"}, CATALOG)
