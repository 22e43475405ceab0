"""A wave's checks after the await (#18): the health path through the cluster's ingress (real HTTP and HTTPS
servers on 127.0.0.1 stand for the ingress controller), one deadline for every request, and the smoke
command (a real process).

Where the health check reads the API server (the Ingress address, the service proxy), ``Cluster`` stands
in for it here; the real API server answers in tests/e2e/test_e2e_waves.py.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops.admin.verify import Reached, VerifyError, check_health, run_smoke, smoke_env
from gitops.core.catalog import AppSpec, Smoke
from gitops.core.settings import Verify
from tests.servers import HealthSite, TrickleSite

HOST = "web.prod.example.com"
WEB = AppSpec(name="web", gitlab_project="shop/web", image="registry.example.com/shop/web", port=8080)


class Cluster:
    """Stands in for a cluster's API server: the Ingress address its controller published, and the service
    proxy (recording what was asked of it)."""

    def __init__(self, address: str | None, proxy_status: int = 200) -> None:
        self.address, self.proxy_status = address, proxy_status
        self.proxied: list[str] = []

    def ingress_address(self, namespace: str, name: str) -> str | None:
        assert namespace == name == "web"
        return self.address

    def get(self, path: str, *, timeout: float = 10) -> tuple[int, bytes]:
        self.proxied.append(path)
        return self.proxy_status, b""


def check(clusters: dict[str, Cluster], verify: Verify, *, tls: bool = False) -> tuple[list[Reached], list[str]]:
    said: list[str] = []
    return check_health(clusters, WEB, HOST, verify, tls=tls, on_output=said.append), said


def test_the_health_path_is_asked_through_each_ingress_with_the_app_host_until_it_answers() -> None:
    with HealthSite(503, 503, 200) as site:
        verify = Verify(healthSeconds=30, ingressScheme="http", ingressPort=site.port)
        reached, said = check({"prod-eu": Cluster("127.0.0.1")}, verify)
    assert site.requests == [(HOST, "/healthz")] * 3, "asked again until 2xx, with the app's host name"
    assert reached == [
        Reached("prod-eu", f"http://127.0.0.1:{site.port}", f"through the ingress at http://127.0.0.1:{site.port}")
    ]
    assert said == [f"health check: /healthz answers 200 on prod-eu (through the ingress at {reached[0].url})\n"]


def test_a_health_path_that_never_answers_2xx_fails_the_wave_naming_the_cluster() -> None:
    with HealthSite(503) as site:
        verify = Verify(healthSeconds=2, ingressScheme="http", ingressPort=site.port)
        with pytest.raises(VerifyError) as err:
            check({"prod-eu": Cluster("127.0.0.1")}, verify)
    assert str(err.value).startswith("health check: /healthz of web on prod-eu did not answer 2xx within 2s")
    assert "last: HTTP 503 through the ingress" in str(err.value) and len(site.requests) >= 1


def test_a_trickling_app_cannot_hold_the_release_past_the_health_deadline() -> None:
    """TrickleSite sends a 200 one byte a second: no read times out. Without the one deadline the check
    would wait for it and pass; with it the wave fails with no answer."""
    with TrickleSite() as site:
        port = int(site.httpd.server_address[1])
        verify = Verify(healthSeconds=2, ingressScheme="http", ingressPort=port)
        with pytest.raises(VerifyError, match=r"within 2s \(last: no answer within"):
            check({"prod-eu": Cluster("127.0.0.1")}, verify)


def test_without_an_ingress_address_the_service_proxy_of_the_api_server_is_asked() -> None:
    cluster = Cluster(None)
    reached, _ = check({"prod-us": cluster}, Verify(healthSeconds=5))
    assert cluster.proxied == ["/api/v1/namespaces/web/services/http:web:http/proxy/healthz"]
    assert reached == [Reached("prod-us", "", "through the API server's service proxy")]
    failing = Cluster(None, proxy_status=503)
    with pytest.raises(VerifyError, match="last: HTTP 503 through the API server's service proxy"):
        check({"prod-us": failing}, Verify(healthSeconds=1))


def test_https_checks_the_certificate_of_the_app_host_not_of_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
         "-addext", f"subjectAltName=DNS:{HOST}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the default trust store of this process: that certificate
    with HealthSite(200, tls=(str(cert), str(key))) as site:
        reached, _ = check({"prod-eu": Cluster("127.0.0.1")}, Verify(healthSeconds=10, ingressPort=site.port), tls=True)
        assert reached[0].url == f"https://127.0.0.1:{site.port}" and site.requests == [(HOST, "/healthz")]
        other = Verify(healthSeconds=1, ingressPort=site.port)
        with pytest.raises(VerifyError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            check_health(
                {"prod-eu": Cluster("127.0.0.1")},
                WEB,
                "shop.prod.example.com",  # a host the certificate is not for
                other,
                tls=True,
                on_output=lambda _: None,
            )


def smoke(*code: str, timeout: int = 30) -> Smoke:
    return Smoke(command=[sys.executable, "-c", "\n".join(code)], timeout_seconds=timeout)


def test_the_smoke_command_sees_what_it_tests_and_no_credential_of_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "do-not-leak")
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-do-not-leak")
    reached = Reached("prod-eu", "https://10.0.0.7:443", "through the ingress")
    env = smoke_env(reached, "web", "prod", "a" * 40, HOST)
    said: list[str] = []
    code = "import os, json; print(json.dumps(dict(os.environ), sort_keys=True)); open('ran', 'w').write('yes')"
    run_smoke(smoke(code), "prod-eu", env, tmp_path, said.append)
    seen = __import__("json").loads(said[-1])
    assert (tmp_path / "ran").read_text() == "yes", "it runs from the deploy repo's root"
    assert {k: v for k, v in seen.items() if k.startswith("GITOPS_")} == {
        "GITOPS_APP": "web",
        "GITOPS_STACK": "prod",
        "GITOPS_CLUSTER": "prod-eu",
        "GITOPS_COMMIT": "a" * 40,
        "GITOPS_HOST": HOST,
        "GITOPS_URL": "https://10.0.0.7:443",
    }
    assert "do-not-leak" not in said[-1] and set(seen) - {"LC_CTYPE"} <= {
        *env,
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "TZ",
    }


def test_a_failing_smoke_command_fails_the_wave_with_its_last_line_made_printable(tmp_path: Path) -> None:
    code = ("import sys", "print('checking /cart')", "print('cart answered 500 \\x1b[31mred\\x07')", "sys.exit(3)")
    with pytest.raises(VerifyError) as err:
        run_smoke(smoke(*code), "prod-us", {}, tmp_path, lambda _: None)
    assert str(err.value) == ("smoke command on prod-us exited 3: cart answered 500 ?[31mred?; the release stops here")
    with pytest.raises(VerifyError, match="could not start"):
        run_smoke(Smoke(command=["./no-such-smoke.sh"]), "prod-us", {}, tmp_path, lambda _: None)


def test_a_smoke_command_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys",
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])",
        "open('child', 'w').write(str(child.pid))",
        "child.wait()",
    )
    with pytest.raises(VerifyError, match="did not finish within 5s"):
        run_smoke(smoke(*code, timeout=5), "prod-eu", {}, tmp_path, lambda _: None)
    child = int((tmp_path / "child").read_text())
    assert gone(child), "the smoke command's child was killed too"


def gone(pid: int, wait: float = 30) -> bool:
    """Whether ``pid`` ends (or is a zombie) within ``wait`` seconds: SIGKILL is delivered asynchronously."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False
