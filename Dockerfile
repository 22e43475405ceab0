# The release engine image (GITOPS_IMAGE in ci/pipeline.yml): this repo, its virtualenv, and the same
# pinned engine the end-to-end tests run: the Pulumi CLI, the Python language host and the Kubernetes
# provider built from tools/go (tools/go/build.sh), plus the GitLab provider plugin installed at image
# build time (the Go module proxy serves no pulumi-gitlab provider module). No job downloads a plugin.
# Its identity (deploy repo commit and `git rev-list --count`) is baked in: each stack records the engine
# that last updated it and refuses an older one (gitops/core/engine.py).
FROM golang:1.26-bookworm AS engine
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY tools/go ./tools/go
RUN GITOPS_TOOLS_CACHE=/out GITOPS_TOOLS_ONLY=engine tools/go/build.sh > /out/tools.txt \
 && mkdir -p /opt/gitops-tools/bin \
 && cut -d' ' -f2 /out/tools.txt | xargs -I{} cp {} /opt/gitops-tools/bin/

FROM python:3.11-slim-bookworm
ARG PULUMI_GITLAB_VERSION=10.4.0
ARG GITOPS_ENGINE_COMMIT
ARG GITOPS_ENGINE_SEQUENCE
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=engine /opt/gitops-tools/bin /opt/gitops-tools/bin
ENV PATH="/opt/gitops-tools/bin:${PATH}" GITOPS_HOME=/opt/gitops PULUMI_SKIP_UPDATE_CHECK=true \
    GITOPS_ENGINE_COMMIT=${GITOPS_ENGINE_COMMIT} GITOPS_ENGINE_SEQUENCE=${GITOPS_ENGINE_SEQUENCE}
RUN pulumi plugin install resource gitlab "v${PULUMI_GITLAB_VERSION}"
ENV PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
WORKDIR /opt/gitops
COPY requirements.txt ./
RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt
COPY . .
