"""The dashboard page in real judges (``tests/browser.py``): no error or warning from the Nu HTML Checker, no
axe-core violation in Debian's Chromium, and a screenshot that shows the page in its status colours. Each
judge is first shown a broken page, so a judge that cannot fail cannot pass these tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.admin.backend_store import FileStore
from gitops.admin.drift_record import DriftCheck, record_drift
from gitops.dashboard.page import Links, render
from gitops.dashboard.read import read_environment
from gitops.notify.notes import ReleaseNotes
from tests.browser import colours, html_messages, judge_in_chromium
from tests.test_dashboard import C1, C2, C3, HOSTILE, NOW, release, update, write_stack

BROKEN = (
    '<!DOCTYPE html><html><head><title>x</title></head><body><img src="x.png">'
    "<table><tr><td>a</td></tr></table><div><p>unclosed</body></html>"
)
OK, WARN, BAD = (0xE3, 0xF4, 0xE6), (0xFF, 0xF1, 0xCC), (0xFD, 0xE2, 0xE2)  # page.CSS: .ok .warn .bad


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every part of the page at once: waves mid-rollout, a hold, drift, a restored failure, an interrupted
    update, 60 previews (hostile names among them) in groups."""
    root = tmp_path_factory.mktemp("dashboard")
    hold = {"commits": [C2], "rolled_back_to": C1, "reason": HOSTILE, "since": "2026-12-06T10:00:00Z"}
    write_stack(root / "prod", "prod", {
        "releases": {"web": release(C1, action="rollback", previous=C2),
                     "api": release(C3, behind={"prod-us": {"commit": C2, "digest": "sha256:" + "b" * 64}}),
                     "cart": release(C2, retiring=True)},
        "previews": {}, "holds": {"web": hold},
    }, [update(f"deploy web@{C2[:8]} from master by alice", "succeeded", {"gitops:app": "web", "gitops:commit": C2}),
        update(f"rollback web to {C1[:8]} by bob", "succeeded",
               {"gitops:app": "web", "gitops:commit": C1, "gitops:action": "rollback"})])  # fmt: skip
    drift = DriftCheck("2026-12-06T10:00:00Z", {"update": 1}, ("Deployment web",), "https://g.example.com/p/9")
    record_drift(FileStore(root / "prod"), "gitops", "prod", drift)
    write_stack(root / "staging", "staging", {
        "releases": {"web": release(C3, branch="latest", action="restore"), "api": release(C2, branch="latest")},
        "previews": {}, "holds": {},
    }, [update(f"deploy web@{C3[:8]} from latest by carol", "failed",
               {"gitops:app": "web", "gitops:commit": C3})])  # fmt: skip
    FileStore(root / "staging").write(".pulumi/locks/organization/gitops/staging/0b1f.json", "{}")
    for n in range(60):
        app = ("web", "api")[n % 2]
        branch = f"feature/{HOSTILE[:20]}" if n == 0 else f"feature/f-{n}"
        preview = {"app": app, "branch": branch, "commit": C1, "namespace": f"{app}-f-{n}", "actor": "dave",
                   "url": f"https://{app}-f-{n}.preview.example.com",
                   "last_deployed": "2026-12-06T11:00:00Z"}  # fmt: skip
        write_stack(root / "preview", f"preview-{app}-f-{n}",
                    {"releases": {}, "holds": {}, "previews": {f"{app}-f-{n}": preview}}, [])  # fmt: skip
    write_stack(root / "preview", "preview", {"releases": {}, "holds": {}, "previews": {}}, [])
    views = [
        read_environment(env, FileStore(root / env), "gitops", previews=env == "preview")
        for env in ("prod", "staging", "preview")
    ]
    links = Links("https://gitlab.example.com", {"web": "shop/web", "api": "shop/api", "cart": "shop/cart"})
    shipped = {("prod", "api"): ReleaseNotes(merge_requests=(12, 14)), ("prod", "web"): ReleaseNotes(),
               ("staging", "api"): ReleaseNotes(unknown="the clone does not hold 222222222222")}  # fmt: skip
    clusters = {"prod": ["prod-eu", "prod-us"], "staging": ["staging"]}
    html = render(views, links, NOW, ttl_hours=72, clusters=clusters, shipped=shipped)
    (root / "index.html").write_text(html, encoding="utf-8")
    return root / "index.html"


def test_the_html_checker_finds_nothing_on_the_page_and_errors_on_a_broken_one(page: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text(BROKEN, encoding="utf-8")
    assert any(m["type"] == "error" for m in html_messages(broken)), "the checker judges"
    assert html_messages(page) == []


def test_axe_finds_no_violation_in_chromium_and_the_screenshot_shows_the_page(page: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text(BROKEN, encoding="utf-8")
    assert {"image-alt", "html-has-lang"} <= {v["id"] for v in judge_in_chromium(broken, tmp_path / "b.png").violations}

    judged = judge_in_chromium(page, tmp_path / "page.png")

    assert judged.violations == [], judged.violations
    assert judged.passes >= 10 and judged.title == "Releases: what runs where"
    seen = colours(judged.screenshot)
    assert all(seen.get(colour, 0) > 500 for colour in (OK, WARN, BAD)), "each status colour shows"
    dark = sum(n for (r, g, b), n in seen.items() if r + g + b < 200)
    assert dark > 2000, "text was drawn"
