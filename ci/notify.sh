#!/usr/bin/env bash
# Report step: the release card on the MR, the commit status, chat and email (python -m gitops notify).
# Exit 0 when everything was delivered, 4 when only a notification failed (the release is not failed).
set -uo pipefail
engine=${GITOPS_HOME:-/opt/gitops}
cd "$engine"
.venv/bin/python -m gitops notify --from-ci --reports "$CI_PROJECT_DIR/reports"
status=$?
if [ "$status" -eq 4 ]; then
  echo "a notification channel failed; the release itself is not affected (see above)"
  exit 0
fi
exit "$status"
