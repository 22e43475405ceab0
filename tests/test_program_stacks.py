"""The whole program, per stack file, under Pulumi's mock engine (gitops.offline.engine)."""

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from gitops import program
from gitops.core.naming import preview_stack
from gitops.core.stackfile import OFFLINE_SECRET, StackConfig, load_stack_config
from gitops.offline.engine import ProgramRefused, RunResult, UnknownInvokeError, run_program
from tests.gitutil import GitRepo
from tests.harness import NOW, ROOT, digest_of, k8s_inputs, one, run

Repo = tuple[GitRepo, dict[str, str]]
CLUSTERS = {"preview": ["preview"], "staging": ["staging"], "prod": ["prod-eu", "prod-us"]}
EVENT_BRANCH = {"preview": "feature/login", "staging": "latest", "prod": "master"}


def deploy(stack: str, web_repo: Repo, app: str = "web", previous: dict[str, Any] | None = None) -> RunResult:
    git, shas = web_repo
    branch = EVENT_BRANCH[stack]
    return run(stack, repo=git.path, previous=previous, app=app, commit=shas[branch], branch=branch)


def assert_structure(result: RunResult, stack: str) -> None:
    providers = result.of_type("pulumi:providers:kubernetes")
    owner = preview_stack("web", EVENT_BRANCH[stack]) if stack == "preview" else stack  # a preview's own stack
    assert sorted(p.name for p in providers) == sorted(f"{owner}-{c}" for c in CLUSTERS[stack])
    provider_urns = {p.urn for p in providers}
    components = {r.urn: r for r in result.resources if not r.custom}
    for resource in result.resources:
        if resource.is_kubernetes_object:
            assert resource.provider.rsplit("::", 1)[0] in provider_urns, resource.urn
            assert components[resource.parent].type.startswith("gitops:"), resource.urn
    for component in components.values():
        module = component.type.split(":")
        assert module[0] == "gitops" and len(module) == 3, component.type


@pytest.mark.parametrize("stack", ["preview", "staging", "prod"])
def test_each_stack_file_deploys_web_to_each_of_its_clusters(stack: str, web_repo: Repo) -> None:
    result = deploy(stack, web_repo)
    assert_structure(result, stack)
    _, shas = web_repo
    commit = shas[EVENT_BRANCH[stack]]
    deployments = [r for r in result.resources if r.is_kubernetes_object and r.inputs["kind"] == "Deployment"]
    assert len(deployments) == len(CLUSTERS[stack])
    for deployment in deployments:
        container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
        pinned = f"registry.example.com/shop/web@{digest_of(commit)}"  # staging/prod: by digest; a preview: the tag
        assert container["image"] == (f"registry.example.com/shop/web:{commit}" if stack == "preview" else pinned)
        assert deployment.inputs["metadata"]["labels"]["app.kubernetes.io/version"] == commit
        assert deployment.inputs["metadata"]["annotations"]["gitops/branch"] == EVENT_BRANCH[stack]
    if stack == "preview":
        (key,) = result.outputs["previews"]
        assert result.outputs["previews"][key]["commit"] == commit
        assert result.outputs["releases"] == {}
        one(result, "ResourceQuota", namespace=key)
    else:
        assert result.outputs["releases"]["web"]["commit"] == commit
        assert result.outputs["releases"]["web"]["branch"] == EVENT_BRANCH[stack]
        assert result.outputs["previews"] == {}


def test_prod_pods_pass_restricted_profile_with_probes_and_resources(web_repo: Repo) -> None:
    result = deploy("prod", web_repo)
    for ns in (r for r in result.resources if r.is_kubernetes_object and r.inputs["kind"] == "Namespace"):
        assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = next(r for r in result.manifests if r["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,  # a high UID: no clash with a host user (checkov CKV_K8S_40)
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "256Mi"}  # prod override
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    assert deployment["spec"]["replicas"] == 3
    assert len([m for m in result.manifests if m["kind"] == "PodDisruptionBudget"]) == 2


def test_staging_namespace_has_default_deny_ingress_allow_and_read_only_developers(web_repo: Repo) -> None:
    result = deploy("staging", web_repo)
    deny = one(result, "NetworkPolicy", name="default-deny-ingress", namespace="web").inputs
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    allow = one(result, "NetworkPolicy", name="allow-from-ingress-controller", namespace="web").inputs
    selector = allow["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
    assert selector == {"kubernetes.io/metadata.name": "ingress-nginx"}
    rules = one(result, "Role", namespace="web").inputs["rules"]
    resources = {res for rule in rules for res in rule["resources"]}
    verbs = {verb for rule in rules for verb in rule["verbs"]}
    assert "pods/log" in resources and not {"secrets", "pods/exec", "pods/portforward"} & resources
    assert verbs == {"get", "list", "watch"}
    admins = one(result, "RoleBinding", name="gitops-admins", namespace="web").inputs
    assert admins["roleRef"]["name"] == "admin" and admins["subjects"][0]["name"] == "gitlab:admins"
    ingress = one(result, "Ingress", namespace="web").inputs
    assert ingress["spec"]["rules"][0]["host"] == "web.staging.example.com"
    assert one(result, "ServiceAccount", namespace="web").inputs["automountServiceAccountToken"] is False


def test_deploying_api_after_web_leaves_web_identical(web_repo: Repo) -> None:
    first = deploy("prod", web_repo)
    second = deploy("prod", web_repo, app="api", previous=first.outputs)
    web_first = {u: i for u, i in k8s_inputs(first).items() if "-web-" in u}
    web_second = {u: i for u, i in k8s_inputs(second).items() if "-web-" in u}
    assert web_first and web_first == web_second
    assert second.outputs["releases"]["web"] == first.outputs["releases"]["web"]
    assert set(second.outputs["releases"]) == {"web", "api"}


def test_rerun_without_event_is_a_no_op(web_repo: Repo) -> None:
    first = deploy("staging", web_repo)
    again = run("staging", previous=first.outputs)
    assert k8s_inputs(again) == k8s_inputs(first)
    assert again.outputs == first.outputs


def test_no_release_means_nothing_deployed() -> None:
    result = run("prod")
    assert not [r for r in result.resources if r.is_kubernetes_object]
    engine = result.outputs.pop("engine")  # this clone's HEAD: the engine that made the update
    assert result.outputs.pop("pullTokenRotation") == "1"  # the GitLab pull tokens' rotation in use
    assert result.outputs == {"releases": {}, "previews": {}, "holds": {}}
    assert len(engine["commit"]) == 40 and engine["sequence"] >= 1


def refused(stack: str, **kwargs: Any) -> ProgramRefused:
    with pytest.raises(ProgramRefused) as err:
        run(stack, **kwargs)
    return err.value


@pytest.mark.parametrize(
    ("stack", "event", "message"),
    [
        ("prod", {"commit": "latest"}, "refused: environment prod, branch 'master'"),
        ("prod", {"commit": "feature/login"}, "refused: environment prod, branch 'master'"),
        ("staging", {"commit": "feature/login"}, "refused: environment staging, branch 'latest'"),
        ("preview", {"commit": "master", "branch": "master"}, "preview does not deploy branch 'master'"),
        ("preview", {"commit": "latest", "branch": "latest"}, "preview does not deploy branch 'latest'"),
    ],
)
def test_baseline_refusal_registers_no_resource(
    stack: str, event: dict[str, str], message: str, web_repo: Repo
) -> None:
    git, shas = web_repo
    args = {"commit": shas[event["commit"]], **({"branch": event["branch"]} if "branch" in event else {})}
    error = refused(stack, repo=git.path, app="web", **args)
    assert message in str(error)
    assert error.registered == []


def test_bad_sha_and_unknown_app_register_no_resource(web_repo: Repo) -> None:
    git, _ = web_repo
    error = refused("prod", repo=git.path, app="web", commit="1234567")
    assert "not a full 40-hex commit SHA" in str(error) and error.registered == []
    error = refused("prod", repo=git.path, app="shop", commit="a" * 40)
    assert "known apps: api, web" in str(error) and error.registered == []


def test_unknown_stack_registers_no_resource() -> None:
    config = load_stack_config(ROOT, "staging")
    with pytest.raises(ProgramRefused, match="stack 'qa' is not an environment") as err:
        run_program("qa", config, root=ROOT, now=NOW)
    assert err.value.registered == []


def test_missing_source_repository_is_a_clear_error() -> None:
    error = refused("prod", app="web", commit="a" * 40)
    assert "no source repository for web" in str(error) and error.registered == []


def test_preview_renders_yaml_only_when_render_dir_is_set_explicitly(web_repo: Repo) -> None:
    git, shas = web_repo
    event: dict[str, Any] = {"app": "web", "branch": "feature/login", "commit": shas["feature/login"]}
    extra = {"gitops:clusters": "[]", "gitops:renderDir": "out"}
    result = run("preview", repo=git.path, extra=extra, **event)
    (provider,) = result.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["renderYamlToDirectory"] == f"out/{preview_stack('web', 'feature/login')}"
    assert "kubeconfig" not in provider.inputs
    error = refused("preview", repo=git.path, extra={"gitops:clusters": "[]"}, **event)
    assert "gitops:clusters is empty; name the clusters to deploy to, or set gitops:renderDir" in str(error)
    assert error.registered == []


def test_kubeconfig_is_a_secret_end_to_end(web_repo: Repo) -> None:
    git, shas = web_repo
    result = run(
        "staging",
        repo=git.path,
        app="web",
        commit=shas["latest"],
        extra={"gitops:kubeconfig-staging": "apiVersion: v1\nkind: Config\n"},
        secret_keys=["gitops:kubeconfig-staging"],
    )
    (provider,) = result.of_type("pulumi:providers:kubernetes")
    assert provider.secret_paths == ["kubeconfig"]
    assert "kind: Config" not in str(result.outputs)


def test_plain_kubeconfig_is_refused(web_repo: Repo) -> None:
    git, shas = web_repo
    error = refused(
        "staging", repo=git.path, app="web", commit=shas["latest"], extra={"gitops:kubeconfig-staging": "x"}
    )
    assert "must be a secret: pulumi config set --secret gitops:kubeconfig-staging" in str(error)
    assert error.registered == []


def test_offline_secret_placeholder_stays_secret(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.staging.yaml").write_text("config:\n  gitops:kubeconfig-staging:\n    secure: AAAB\n")
    config = load_stack_config(tmp_path, "staging")
    assert config.values["gitops:kubeconfig-staging"] == OFFLINE_SECRET
    assert config.secret_keys == ["gitops:kubeconfig-staging"]


def test_unknown_invoke_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    async def invoking_program(**_: Any) -> dict[str, Any]:
        pulumi.runtime.invoke("kubernetes:yaml:decode", {"text": ""})
        return {}

    monkeypatch.setattr(program, "main", invoking_program)
    with pytest.raises(UnknownInvokeError, match="kubernetes:yaml:decode"):
        run_program("prod", StackConfig(), root=ROOT, now=NOW)


@pytest.mark.parametrize("stack", ["staging", "preview"])
def test_a_new_commit_changes_only_the_deployment_and_the_migration_job(stack: str, tmp_path: Path) -> None:
    """Every other object of the app (Service, Ingress, Secrets, ServiceAccount, PDB, HPA, NetworkPolicies, the
    namespace) carries nothing of the commit, so a release leaves it untouched: no update step, no Service
    await. The Deployment and the migration Job carry the version."""
    git = GitRepo(tmp_path / "api")
    branch = EVENT_BRANCH[stack]
    git.checkout(branch, create_from="master")
    first = git.commit("first")
    before = run(stack, repo=git.path, app="api", commit=first, branch=branch)
    second = git.commit("second")
    after = run(stack, repo=git.path, app="api", commit=second, branch=branch, previous=before.outputs)

    old, new = k8s_inputs(before), k8s_inputs(after)
    assert len(new) > 8 and set(old) <= set(new)
    changed = {new[urn]["kind"] for urn in new if old.get(urn) != new[urn]}
    assert changed == {"Deployment", "Job"}, changed
    for inputs in new.values():
        if inputs["kind"] not in ("Deployment", "Job"):
            assert second[:12] not in json.dumps(inputs), inputs["kind"]
