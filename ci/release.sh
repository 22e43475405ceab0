#!/usr/bin/env bash
# One release event (deploy/stop jobs of ci/pipeline.yml), in the gitops image, through
# `python -m gitops release`: it waits (bounded) while another project's update holds the stack lock,
# and when a staging/prod deploy fails past the program's checks it restores the last good release.
#   release.sh deploy   deploy $CI_COMMIT_SHA of $GITOPS_APP from $CI_COMMIT_REF_NAME to $GITOPS_STACK
#   release.sh stop     tear down this branch's preview (works after the branch is deleted)
# Exit: 0 released; 1 failed and the previous release was restored; 2 refused or failed.
# Secrets come from masked, environment-scoped CI/CD variables and are never echoed (no `set -x`).
set -euo pipefail
action=${1:?usage: release.sh deploy|stop}
stack=${GITOPS_STACK:?GITOPS_STACK is set by the job}
app=${GITOPS_APP:?GITOPS_APP is a project variable managed by the prod stack}
# merged-results / merge-train pipelines run on a temporary merge commit: deploy the MR's own head commit
# from its source branch (the build job built and tagged exactly that commit)
branch=${CI_MERGE_REQUEST_SOURCE_BRANCH_NAME:-${CI_COMMIT_REF_NAME:?}}
commit=${CI_MERGE_REQUEST_SOURCE_BRANCH_SHA:-${CI_COMMIT_SHA:-}}
engine=${GITOPS_HOME:-/opt/gitops}
python="$engine/.venv/bin/python"
dotenv="${CI_PROJECT_DIR:-$PWD}/deploy.env"

if [ -n "${KUBECONFIG_B64:-}" ]; then
  umask 077
  printf '%s' "$KUBECONFIG_B64" | base64 -d > "${TMPDIR:-/tmp}/kubeconfig"
  export KUBECONFIG="${TMPDIR:-/tmp}/kubeconfig"
fi

args=(--stack "$stack" --app "$app" --branch "$branch" --action "$action" --dotenv "$dotenv")
if [ "$action" = deploy ]; then
  # The small baseline needs every branch of the app repo, not only the one being built.
  git -C "$CI_PROJECT_DIR" fetch --quiet --prune origin '+refs/heads/*:refs/remotes/origin/*'
  args+=(--commit "$commit" --repo "$CI_PROJECT_DIR")
  # the digest the build job pushed (its dotenv): staging/prod require it, previews pin it when known
  if [ -n "${IMAGE_DIGEST:-}" ]; then args+=(--digest "$IMAGE_DIGEST"); fi
  # `gitops release` adds DEPLOY_URL (and the result) to it
  echo "DEPLOY_JOB_URL=${CI_JOB_URL:-}" > "$dotenv"
fi

cd "$engine"
exec "$python" -m gitops release "${args[@]}"
