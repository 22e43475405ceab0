#!/usr/bin/env bash
# Scheduled drift check: fails (exit 3) when a refresh would change resources. Refresh stays with admins.
set -euo pipefail
engine=${GITOPS_HOME:-/opt/gitops}
cd "$engine"
exec .venv/bin/python -m gitops drift --stack "${GITOPS_STACK:?}"
