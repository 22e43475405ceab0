"""Real git repositories for tests, built with the git CLI (branches, merges, deletions, clones)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Test Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


class GitRepo:
    """A working repository on branch ``master`` with one commit, plus helpers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "master")
        self.counter = 0
        self.commit("initial")

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        done = subprocess.run(["git", *args], cwd=self.path, env=env, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def commit(self, message: str) -> str:
        self.counter += 1
        (self.path / "file.txt").write_text(f"{message} {self.counter}\n", encoding="utf-8")
        self.git("add", "file.txt")
        self.git("commit", "-q", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def tip(self, branch: str) -> str:
        return self.git("rev-parse", f"refs/heads/{branch}")

    def checkout(self, branch: str, *, create_from: str | None = None) -> None:
        if create_from is None:
            self.git("checkout", "-q", branch)
        else:
            self.git("checkout", "-q", "-b", branch, create_from)

    def branch_with_commit(self, branch: str, base: str, message: str | None = None) -> str:
        self.checkout(branch, create_from=base)
        sha = self.commit(message or f"work on {branch}")
        self.checkout("master")
        return sha

    def merge(self, branch: str, into: str) -> str:
        self.checkout(into)
        self.git("merge", "-q", "--no-ff", "-m", f"Merge {branch} into {into}", branch)
        sha = self.head()
        self.checkout("master")
        return sha

    def delete_branch(self, branch: str) -> None:
        self.git("branch", "-q", "-D", branch)

    def ci_clone(self, dest: Path, sha: str) -> Path:
        """Like a GitLab CI clone: detached HEAD at ``sha``, only remote-tracking branches."""
        subprocess.run(["git", "clone", "-q", str(self.path), str(dest)], check=True, env={**os.environ, **GIT_ENV})
        clone = GitRepo.__new__(GitRepo)
        clone.path = dest
        clone.git("checkout", "-q", "--detach", sha)
        for ref in clone.git("for-each-ref", "--format=%(refname:short)", "refs/heads/").split():
            clone.git("branch", "-q", "-D", ref)
        return dest


def standard_repo(path: Path) -> tuple[GitRepo, dict[str, str]]:
    """master <- latest <- feature/login; returns the repo and the commit of each."""
    repo = GitRepo(path)
    shas = {"master": repo.head()}
    repo.checkout("latest", create_from="master")
    shas["latest"] = repo.commit("integration work")
    repo.checkout("master")
    shas["feature/login"] = repo.branch_with_commit("feature/login", "latest", "login form")
    return repo, shas
