#!/usr/bin/env bash
# The release dashboard (the deploy project's `pages` job): clone every app, as the sweep does, for the merge
# requests each release shipped, then write the page into public/ from the read-only state URLs
# (GITOPS_STATE_URL_PROD/_STAGING/_PREVIEW, scoped to the environment `dashboard`).
set -euo pipefail
engine=${GITOPS_HOME:-/opt/gitops}
python="$engine/.venv/bin/python"
out="${CI_PROJECT_DIR:?}/public"
work=$(mktemp -d)
# Release notes read commits only (their messages name the merge requests): a treeless partial clone.
clone=(git clone --quiet --bare --filter=tree:0)
args=()
while read -r app project; do
  # The job token reaches app projects whose allowlist names the deploy project (preview stack owns it).
  # An app that cannot be cloned shows its releases without their merge requests, and says so.
  if "${clone[@]}" "https://gitlab-ci-token:${CI_JOB_TOKEN}@${CI_SERVER_HOST}/${project}.git" "$work/$app"; then
    args+=(--repo "$app=$work/$app")
  fi
done < <(cd "$engine" && "$python" -m gitops apps)
cd "$engine"
exec "$python" -m gitops dashboard --out "$out" "${args[@]}"
