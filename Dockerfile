# The release engine image (GITOPS_IMAGE in ci/pipeline.yml): this repo, its virtualenv and the Pulumi CLI.
# Its identity (deploy repo commit and `git rev-list --count`) is baked in: each stack records the engine
# that last updated it and refuses an older one (gitops/core/engine.py).
FROM python:3.11-slim-bookworm
ARG PULUMI_VERSION=3.272.0
ARG GITOPS_ENGINE_COMMIT
ARG GITOPS_ENGINE_SEQUENCE
RUN apt-get update \
 && apt-get install -y --no-install-recommends git curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION"
ENV PATH="/root/.pulumi/bin:${PATH}" GITOPS_HOME=/opt/gitops PULUMI_SKIP_UPDATE_CHECKS=true \
    GITOPS_ENGINE_COMMIT=${GITOPS_ENGINE_COMMIT} GITOPS_ENGINE_SEQUENCE=${GITOPS_ENGINE_SEQUENCE}
WORKDIR /opt/gitops
COPY requirements.txt ./
RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt
COPY . .
