# The release engine image (GITOPS_IMAGE in ci/pipeline.yml): this repo, its virtualenv, and the same
# pinned engine the end-to-end tests run: the Pulumi CLI, the Python language host and the Kubernetes
# provider built from tools/go (tools/go/build.sh), installed into the Pulumi home as a plugin at the
# version the Python SDK asks for (found there, not as an ambient binary on PATH, which every update would
# announce with a warning), plus the GitLab provider plugin installed at image build time (the Go module
# proxy serves no pulumi-gitlab provider module). No job downloads a plugin.
# The engine stage starts from empty Go caches: build.sh downloads every module it reads itself
# (tests/e2e/test_e2e_cold_build.py runs it that way).
# Its identity (deploy repo commit and `git rev-list --count`) is baked in: each stack records the engine
# that last updated it and refuses an older one (gitops/core/engine.py).
FROM golang:1.26-bookworm AS engine
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY tools/go ./tools/go
RUN GITOPS_TOOLS_CACHE=/out GITOPS_TOOLS_ONLY=engine tools/go/build.sh > /out/tools.txt \
 && mkdir -p /opt/gitops-tools/bin /opt/gitops-tools/plugins \
 && cut -d' ' -f2 /out/tools.txt | grep -v '/pulumi-resource-kubernetes$' | xargs -I{} cp {} /opt/gitops-tools/bin/ \
 && cp "$(sed -n 's/^pulumi-resource-kubernetes //p' /out/tools.txt)" /opt/gitops-tools/plugins/ \
 && sed -n 's/^version: *//p' tools/go/kubernetes-provider/VERSION > /opt/gitops-tools/plugins/kubernetes.version

FROM python:3.11-slim-bookworm
ARG PULUMI_GITLAB_VERSION=10.4.0
ARG GITOPS_ENGINE_COMMIT
ARG GITOPS_ENGINE_SEQUENCE
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=engine /opt/gitops-tools/bin /opt/gitops-tools/bin
COPY --from=engine /opt/gitops-tools/plugins /tmp/plugins
ENV PATH="/opt/gitops-tools/bin:${PATH}" GITOPS_HOME=/opt/gitops PULUMI_SKIP_UPDATE_CHECK=true \
    PULUMI_IGNORE_AMBIENT_PLUGINS=true \
    GITOPS_ENGINE_COMMIT=${GITOPS_ENGINE_COMMIT} GITOPS_ENGINE_SEQUENCE=${GITOPS_ENGINE_SEQUENCE}
RUN pulumi plugin install resource kubernetes "v$(cat /tmp/plugins/kubernetes.version)" \
      --file /tmp/plugins/pulumi-resource-kubernetes \
 && rm -rf /tmp/plugins \
 && pulumi plugin install resource gitlab "v${PULUMI_GITLAB_VERSION}"
ENV PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
WORKDIR /opt/gitops
COPY requirements.txt ./
RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt
COPY . .
