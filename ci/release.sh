#!/usr/bin/env bash
# One release event through `pulumi up` (deploy/stop jobs of ci/pipeline.yml), in the gitops image.
#   release.sh deploy   deploy $CI_COMMIT_SHA of $GITOPS_APP from $CI_COMMIT_REF_NAME to $GITOPS_STACK
#   release.sh stop     tear down this branch's preview (works after the branch is deleted)
# Secrets come from masked, environment-scoped CI/CD variables and are never echoed (no `set -x`).
set -euo pipefail
action=${1:?usage: release.sh deploy|stop}
stack=${GITOPS_STACK:?GITOPS_STACK is set by the job}
app=${GITOPS_APP:?GITOPS_APP is a project variable managed by the prod stack}
branch=${CI_COMMIT_REF_NAME:?}
engine=${GITOPS_HOME:-/opt/gitops}
python="$engine/.venv/bin/python"

if [ -n "${KUBECONFIG_B64:-}" ]; then
  umask 077
  printf '%s' "$KUBECONFIG_B64" | base64 -d > "${TMPDIR:-/tmp}/kubeconfig"
  export KUBECONFIG="${TMPDIR:-/tmp}/kubeconfig"
fi

args=(-c "gitops:app=$app" -c "gitops:branch=$branch" -c "gitops:action=$action")
if [ "$action" = deploy ]; then
  # The small baseline needs every branch of the app repo, not only the one being built.
  git -C "$CI_PROJECT_DIR" fetch --quiet --prune origin '+refs/heads/*:refs/remotes/origin/*'
  args+=(-c "gitops:commit=$CI_COMMIT_SHA" -c "gitops:sourceRepo=$CI_PROJECT_DIR")
fi
message=$(cd "$engine" && "$python" -m gitops message --action "$action" --app "$app" \
  --commit "${CI_COMMIT_SHA:-}" --branch "$branch")

cd "$engine"
# One stack serves every app project; resource_group serializes per project, Pulumi's stack lock
# across projects. Wait out another project's update (bounded), fail on anything else.
for attempt in 1 2 3 4 5 6; do
  if pulumi up --yes --skip-preview --non-interactive --stack "$stack" "${args[@]}" --message "$message" \
      2> >(tee "${TMPDIR:-/tmp}/up.err" >&2); then
    break
  fi
  if grep -q "currently locked" "${TMPDIR:-/tmp}/up.err" && [ "$attempt" -lt 6 ]; then
    echo "stack $stack is locked by another update; retrying in 30s ($attempt/5)"
    sleep 30
    continue
  fi
  echo "release refused or failed: see the error above (the program names the rule and the fix)" >&2
  exit 1
done

if [ "$action" = deploy ]; then
  {
    echo "DEPLOY_URL=$("$python" -m gitops url --stack "$stack" --app "$app" --branch "$branch")"
    echo "DEPLOY_RESULT=success"
    echo "DEPLOY_JOB_URL=$CI_JOB_URL"
  } > "$CI_PROJECT_DIR/deploy.env"
fi
