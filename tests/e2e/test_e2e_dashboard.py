"""The release dashboard from real stacks: releases, a rollback and its hold, a failed release restored,
read from the team backend with a role that may only read (the page needs no passphrase and no CLI), and
judged by the Nu HTML Checker and axe-core in Chromium. Drift, a failed wave, a rollout mid-way and live
previews on the page are proven where those happen: test_e2e_admin, test_e2e_waves, test_e2e_previews."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from gitops.localcluster.cluster import BROKEN_DIGEST
from gitops.localcluster.postgres import LocalPostgres
from tests.browser import colours, html_messages, judge_in_chromium
from tests.e2e.world import WorldFactory, digest
from tests.test_dashboard import Page


def test_the_dashboard_shows_what_the_backend_holds_with_a_read_only_role(
    world_factory: WorldFactory, postgres: LocalPostgres, tmp_path: Path
) -> None:
    world = world_factory(["staging"])
    repo = world.app_repo("web")
    c1 = repo.commit("first")
    repo.branch_with_commit("feature/cart", "master", "a cart")
    repo.git(
        "merge", "-q", "--no-ff", "-m", "Merge branch 'feature/cart'\n\nSee merge request shop/web!7", "feature/cart"
    )
    c2, c3 = repo.head(), repo.commit("third")
    repo.git("branch", "-f", "latest", "master")
    world.gitops("init", "--stack", "staging")
    world.ci_release("staging", "web", c1, image_digest=digest(1))
    world.ci_release("staging", "web", c2, image_digest=digest(2))
    shipped = Page(world.dashboard(tmp_path / "shipped", "--repo", f"web={repo.path}").read_text(encoding="utf-8"))
    assert shipped.row("web", "releases-staging")[-1] == "!7", "the merge request c1..c2 brought"
    world.gitops("rollback", "--stack", "staging", "--app", "web", "--reason", "checkout <b>broken</b>",
                 "--repo", str(repo.path), "--yes")  # fmt: skip
    world.gitops("hold", "clear", "--stack", "staging", "--app", "web", "--reason", "fixed")
    failed = world.ci_release("staging", "web", c3, image_digest=BROKEN_DIGEST, check=False)
    assert failed.returncode == 1, failed.stdout[-2000:]  # restored automatically

    database = urlparse(world.project.environments["staging"]["PULUMI_BACKEND_URL"]).path.lstrip("/")
    reader = postgres.create_reader(database)
    with psycopg.connect(reader.split("?")[0]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM pulumi_state")  # the page's role cannot change the state
    out = tmp_path / "public"
    done = world.gitops("dashboard", "--out", str(out), extra={"GITOPS_STATE_URL_STAGING": reader})
    assert done.returncode == 0, done.stderr
    page = Page((out / "index.html").read_text(encoding="utf-8"))
    web = page.row("web", "releases-staging")
    assert web[1].startswith("RESTORED") and web[2].startswith(c1[:8]), web
    assert page.row("web", "matrix") == ["web", f"{c1[:8]} RESTORED", "-"], page.tables["matrix"]  # no preview
    started = page.tables["timeline-staging"][1:]
    assert started[0][1:3] == ["succeeded", "restore"] and started[0][4] == c1[:8], started  # newest first
    (failure,) = [r for r in started if r[1] == "failed"]
    assert failure[2] == "deploy" and failure[4] == c3[:8], failure
    assert started.index(failure) > 0, "the restore came after the failed release"
    assert any(r[2] == "rollback" for r in started) and "checkout <b>broken</b>" not in " ".join(page.text[:0])
    assert not any(tag == "b" for tag, _ in page.tags), "a reason with markup stays text"
    assert html_messages(out / "index.html") == [], "the Nu HTML Checker finds nothing"
    judged = judge_in_chromium(out / "index.html", tmp_path / "dashboard.png")
    assert judged.violations == [] and judged.passes >= 10, judged.violations
    assert len(colours(judged.screenshot)) > 20, "the page rendered"
