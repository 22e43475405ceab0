#!/usr/bin/env bash
# Scheduled sweep (deploy project): clone every app, then let the program prune previews of
# deleted/merged branches, idle previews and the excess over the cap, for all apps at once.
set -euo pipefail
engine=${GITOPS_HOME:-/opt/gitops}
python="$engine/.venv/bin/python"
work=$(mktemp -d)
repos="{"
while read -r app project; do
  # The job token reaches app projects whose allowlist names the deploy project (preview stack owns it).
  git clone --quiet --bare "https://gitlab-ci-token:${CI_JOB_TOKEN}@${CI_SERVER_HOST}/${project}.git" "$work/$app"
  repos+="\"$app\": \"$work/$app\","
done < <(cd "$engine" && "$python" -m gitops apps)
repos="${repos%,}}"
cd "$engine"
pulumi up --yes --skip-preview --non-interactive --stack preview -c "gitops:sourceRepos=$repos" \
  --message "sweep previews by ${GITLAB_USER_LOGIN:-schedule} (pipeline ${CI_PIPELINE_URL:--})"
