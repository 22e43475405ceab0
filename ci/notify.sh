#!/usr/bin/env bash
# Report step: the release card on the MR, the commit status, DingTalk, Slack and email.
# Exit codes of `python -m gitops notify`: 0 delivered; 3 delivered, the release had failed;
# 4 a notification channel failed (the release is not affected). The report job allows 3 and 4.
set -uo pipefail
engine=${GITOPS_HOME:-/opt/gitops}
cd "$engine" || exit 1
exec .venv/bin/python -m gitops notify --from-ci --reports "$CI_PROJECT_DIR/reports"
