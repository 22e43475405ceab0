#!/usr/bin/env bash
# Scheduled sweep (deploy project): clone every app, then remove the preview stacks whose branch was
# deleted or merged into latest, idle ones and the excess over the cap (python -m gitops sweep), and
# re-apply the shared preview stack. Only the live previews' branches are looked at.
set -euo pipefail
engine=${GITOPS_HOME:-/opt/gitops}
python="$engine/.venv/bin/python"
work=$(mktemp -d)
# The sweep reads commits only (which branches latest reaches), so trees and blobs stay on the server: a
# treeless partial clone. A server without clone filters sends everything; the answer is the same.
clone=(git clone --quiet --bare --filter=tree:0)
args=()
while read -r app project; do
  # The job token reaches app projects whose allowlist names the deploy project (preview stack owns it).
  "${clone[@]}" "https://gitlab-ci-token:${CI_JOB_TOKEN}@${CI_SERVER_HOST}/${project}.git" "$work/$app"
  args+=(--repo "$app=$work/$app")
done < <(cd "$engine" && "$python" -m gitops apps)
cd "$engine"
# what the last sweep learnt (the job's CI cache): only what latest gained since is walked
memo=()
if [ -n "${CI_PROJECT_DIR:-}" ]; then memo=(--memo "$CI_PROJECT_DIR/.gitops-sweep/memo.json"); fi
exec "$python" -m gitops sweep "${args[@]}" "${memo[@]}"
