# The release engine image (GITOPS_IMAGE in ci/pipeline.yml): this repo, its virtualenv and the Pulumi CLI.
FROM python:3.11-slim-bookworm
ARG PULUMI_VERSION=3.272.0
RUN apt-get update \
 && apt-get install -y --no-install-recommends git curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION"
ENV PATH="/root/.pulumi/bin:${PATH}" GITOPS_HOME=/opt/gitops PULUMI_SKIP_UPDATE_CHECKS=true
WORKDIR /opt/gitops
COPY requirements.txt ./
RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt
COPY . .
