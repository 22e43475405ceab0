"""The release report: what happened to one push, gathered from CI variables and JUnit reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, TestSuite

from gitops.core.environments import ENVIRONMENTS
from gitops.core.errors import ConfigError
from gitops.notify.notes import ReleaseNotes, release_notes

MAX_FAILING = 20


@dataclass(frozen=True)
class FailingTest:
    name: str
    message: str


@dataclass(frozen=True)
class TestSummary:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failing: list[FailingTest] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    def line(self) -> str:
        if not self.total:
            return "no test reports"
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def summarize_junit(paths: list[Path]) -> TestSummary:
    """Counts over every JUnit file (errors count as failures), and the first failing tests."""
    passed = failed = skipped = 0
    failing: list[FailingTest] = []
    for path in sorted(paths):
        xml = JUnitXml.fromfile(str(path))
        suites = [xml] if isinstance(xml, TestSuite) else list(xml)
        for suite in suites:
            for case in suite:
                if case.is_skipped:
                    skipped += 1
                elif case.is_passed:
                    passed += 1
                else:
                    failed += 1
                    problem = next((r for r in case.result if isinstance(r, (Failure, Error))), None)
                    message = (problem.message or "").strip() if problem is not None else ""
                    name = f"{case.classname}.{case.name}" if case.classname else str(case.name)
                    if len(failing) < MAX_FAILING:
                        failing.append(FailingTest(name, message.splitlines()[0][:200] if message else ""))
    return TestSummary(passed, failed, skipped, failing)


@dataclass(frozen=True)
class ReleaseReport:
    """One release event, as every channel shows it."""

    app: str
    environment: str
    action: str
    commit: str
    branch: str
    project: str
    result: str  # "success" or "failed"
    tests: TestSummary
    mr_iid: int | None = None
    pipeline_url: str = ""
    job_url: str = ""
    url: str = ""
    actor: str = ""
    reason: str = ""
    health: str = ""
    related_commits: tuple[str, ...] = ()  # e.g. the commit a rollback went away from: its MR hears of it
    included: tuple[tuple[str, str], ...] = ()  # (commit, title) this release brings since the previous one
    included_mrs: tuple[int, ...] = ()  # the MRs those commits came from: their cards hear of it
    included_unknown: str = ""  # why the clone could not tell what this release brings
    pipeline_id: int | None = None

    @property
    def ok(self) -> bool:
        """The deploy (or rollback) succeeded."""
        return self.result == "success"

    @property
    def verified(self) -> bool:
        """Deployed and no test failed."""
        return self.ok and self.tests.failed == 0

    @property
    def red(self) -> bool:
        """The one definition of a red release: the deploy failed or a functional test failed. The card, the
        commit status, the author reply and every chat message (colour, verdict, mention) use it."""
        return not self.verified


def environment_of(environ: Mapping[str, str]) -> str:
    """Which environment this pipeline deploys to: the small baseline, as the pipeline's rules apply it."""
    branch = environ.get("CI_COMMIT_BRANCH", "")
    for env in ENVIRONMENTS.values():
        if env.deploy_branch and branch == env.deploy_branch:
            return env.name
    return "preview"


def report_from_ci(environ: Mapping[str, str], reports_dir: Path | None) -> ReleaseReport:
    """Build the report in the pipeline's report job (GitLab predefined variables + deploy.env)."""
    missing = [
        k for k in ("GITOPS_APP", "CI_COMMIT_SHA", "CI_COMMIT_REF_NAME", "CI_PROJECT_PATH") if not environ.get(k)
    ]
    if missing:
        raise ConfigError(f"notify --from-ci needs the CI variables {', '.join(missing)} (run it in the report job)")
    files = sorted(reports_dir.rglob("*.xml")) if reports_dir and reports_dir.is_dir() else []
    iid = environ.get("CI_MERGE_REQUEST_IID", "")
    commit = environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") or environ["CI_COMMIT_SHA"]
    previous = environ.get("PREVIOUS_COMMIT", "")
    notes = ReleaseNotes()
    if previous and environ.get("CI_PROJECT_DIR"):
        notes = release_notes(Path(environ["CI_PROJECT_DIR"]), commit, previous, environ["CI_PROJECT_PATH"])
    return ReleaseReport(
        app=environ["GITOPS_APP"],
        environment=environment_of(environ),
        action=environ.get("GITOPS_ACTION", "deploy"),
        # merged-results/merge-train pipelines run on a temporary merge commit: report the MR's own head
        commit=commit,
        branch=environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or environ["CI_COMMIT_REF_NAME"],
        project=environ["CI_PROJECT_PATH"],
        result="success" if environ.get("DEPLOY_RESULT") == "success" else "failed",
        tests=summarize_junit(files),
        mr_iid=int(iid) if iid.isdigit() else None,
        pipeline_url=environ.get("CI_PIPELINE_URL", ""),
        job_url=environ.get("DEPLOY_JOB_URL", environ.get("CI_JOB_URL", "")),
        url=environ.get("DEPLOY_URL", ""),
        actor=environ.get("GITLAB_USER_LOGIN", ""),
        reason=environ.get("GITOPS_REASON", ""),
        included=notes.commits,
        included_mrs=notes.merge_requests,
        included_unknown=notes.unknown,
        pipeline_id=int(environ["CI_PIPELINE_ID"]) if environ.get("CI_PIPELINE_ID", "").isdigit() else None,
    )
