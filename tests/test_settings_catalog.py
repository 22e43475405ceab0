"""Settings and catalog validation: errors name the file, the key and the fix."""

import json
from pathlib import Path

import pytest

from gitops.core.catalog import load_catalog, parse_catalog
from gitops.core.environments import ENVIRONMENTS, environment_for_stack
from gitops.core.errors import ConfigError
from gitops.core.settings import settings_from_config
from gitops.core.stackfile import load_stack_config
from tests.harness import ROOT

STAGING = ENVIRONMENTS["staging"]
APP = {"gitlab_project": "shop/web", "image": "registry.example.com/shop/web", "port": 8080}


def test_sample_catalog_has_at_least_two_valid_apps() -> None:
    catalog = load_catalog(ROOT / "apps.yaml")
    assert len(catalog.apps) >= 2
    assert catalog.apps["web"].port == 8080


@pytest.mark.parametrize("stack", ["preview", "staging", "prod"])
def test_each_stack_file_validates_and_disables_default_providers(stack: str) -> None:
    config = load_stack_config(ROOT, stack)
    assert json.loads(config.values["pulumi:disable-default-providers"]) == ["*"]
    raw = {k.removeprefix("gitops:"): v for k, v in config.values.items() if k.startswith("gitops:")}
    settings = settings_from_config(environment_for_stack(stack), raw, source=f"Pulumi.{stack}.yaml")
    assert settings.clusters, "the shipped stacks name their clusters"


def test_unknown_stack_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"stack 'qa' is not an environment.*preview, staging, prod"):
        environment_for_stack("qa")


def test_catalog_error_names_file_key_and_value() -> None:
    with pytest.raises(ConfigError) as err:
        parse_catalog({"apps": {"web": {**APP, "port": 70000}}}, source="apps.yaml")
    assert "apps.yaml" in str(err.value) and "apps.web.port" in str(err.value) and "70000" in str(err.value)


def test_catalog_refuses_tagged_image() -> None:
    with pytest.raises(ConfigError, match="no tag or digest"):
        parse_catalog({"apps": {"web": {**APP, "image": "registry.example.com/shop/web:latest"}}}, source="apps.yaml")


def test_catalog_typo_lists_known_keys() -> None:
    with pytest.raises(ConfigError, match=r"apps\.web\.replica: unknown key; expected one of: .*replicas"):
        parse_catalog({"apps": {"web": {**APP, "replica": 2}}}, source="apps.yaml")


def test_missing_catalog_file_says_which_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gitops:catalog"):
        load_catalog(tmp_path / "nope.yaml")


def test_settings_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown config key gitops:replicas"):
        settings_from_config(STAGING, {"domain": "a.example.com", "replicas": "3"}, source="Pulumi.staging.yaml")


def test_settings_require_domain() -> None:
    with pytest.raises(ConfigError, match="gitops:domain is required"):
        settings_from_config(STAGING, {}, source="Pulumi.staging.yaml")


def test_settings_nested_error_names_path() -> None:
    raw = {"domain": "a.example.com", "preview": json.dumps({"ttl_hours": 0})}
    with pytest.raises(ConfigError, match=r"gitops:preview\.ttl_hours"):
        settings_from_config(STAGING, raw, source="Pulumi.staging.yaml")


def test_duplicate_cluster_names_are_refused() -> None:
    raw = {"domain": "a.example.com", "clusters": json.dumps([{"name": "eu"}, {"name": "eu"}])}
    with pytest.raises(ConfigError, match="repeated: eu"):
        settings_from_config(STAGING, raw, source="Pulumi.staging.yaml")


def test_override_for_unknown_app_is_refused() -> None:
    raw = {"domain": "a.example.com", "overrides": json.dumps({"shop": {"replicas": 2}})}
    settings = settings_from_config(STAGING, raw, source="Pulumi.staging.yaml")
    with pytest.raises(ConfigError, match="overrides names app 'shop'"):
        settings.check_catalog(load_catalog(ROOT / "apps.yaml"), source="Pulumi.staging.yaml")


STAGING_BASE = {
    "domain": "staging.example.com",
    "clusters": json.dumps([{"name": "staging", "context": "staging", "cluster_identifier": "c1"}]),
}


@pytest.mark.parametrize(
    ("text", "taken_as"),
    [("30", 30), (" 30", 30), ("30.0", None), ("1e2", None), ('"30"', None), ("yes", None), ("true", None)],
)
def test_a_top_level_value_is_read_as_one_json_value_then_typed_strictly(text: str, taken_as: int | None) -> None:
    """What `pulumi config set gitops:rolloutTimeoutSeconds 30` stores (text) is the number 30; nothing else is
    converted (the README's "Settings" says so)."""
    raw = {**STAGING_BASE, "rolloutTimeoutSeconds": text}
    if taken_as is None:
        with pytest.raises(ConfigError, match=r"gitops:rolloutTimeoutSeconds: Input should be a valid integer"):
            settings_from_config(STAGING, raw, source="Pulumi.staging.yaml")
    else:
        assert settings_from_config(STAGING, raw, source="Pulumi.staging.yaml").rolloutTimeoutSeconds == taken_as


def test_values_inside_a_structured_setting_keep_their_yaml_types() -> None:
    raw = {**STAGING_BASE, "preview": json.dumps({"ttl_hours": "72"})}
    with pytest.raises(ConfigError, match=r"gitops:preview.ttl_hours: Input should be a valid integer"):
        settings_from_config(ENVIRONMENTS["preview"], {**raw, "renderDir": "out"}, source="Pulumi.preview.yaml")
