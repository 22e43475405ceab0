"""Where names are decided: slugs, preview namespaces, hosts."""

import re

from gitops.core.naming import preview_id, ref_slug

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_ref_slug_follows_gitlab_rule() -> None:
    assert ref_slug("feature/ABC_12") == "feature-abc-12"
    assert ref_slug("--Fix--") == "fix"
    assert len(ref_slug("x" * 100)) == 63


def test_preview_id_is_readable_and_deterministic() -> None:
    first = preview_id("web", "feature/login")
    assert first.startswith("web-feature-login-")
    assert first == preview_id("web", "feature/login")


def test_colliding_slugs_get_distinct_namespaces() -> None:
    assert ref_slug("feature/ABC") == ref_slug("feature-abc")
    assert preview_id("web", "feature/ABC") != preview_id("web", "feature-abc")


def test_same_branch_of_two_apps_gets_two_namespaces() -> None:
    assert preview_id("web", "feature/x") != preview_id("api", "feature/x")


def test_long_branch_is_cut_to_a_dns_label() -> None:
    name = preview_id("checkout-service", "feature/" + "very-long-branch-name-" * 6)
    assert len(name) <= 63
    assert DNS_LABEL.match(name)
    longer = preview_id("checkout-service", "feature/" + "very-long-branch-name-" * 6 + "2")
    assert name != longer


def test_unicode_branch_gives_valid_distinct_labels() -> None:
    a, b = preview_id("web", "功能/登录"), preview_id("web", "功能/注册")
    assert DNS_LABEL.match(a) and DNS_LABEL.match(b)
    assert a != b
    assert DNS_LABEL.match(preview_id("web", "fix/café-menü"))


def test_slug_ending_at_cut_has_no_trailing_dash() -> None:
    branch = "a" * 40 + "-" + "b" * 40
    name = preview_id("web", branch)
    assert "--" not in name and DNS_LABEL.match(name)
