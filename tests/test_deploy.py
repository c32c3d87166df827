"""The deployment files of docs/deployment.md: the Kubernetes manifests under deploy/kubernetes
are valid against Kubernetes' own schemas (kubernetes-validate's offline copies; no cluster
here for `kubectl apply --dry-run`), agree with each other and with oxwsgi's options; the nginx
configuration under deploy/nginx passes `nginx -t`, the HAProxy one under deploy/haproxy
`haproxy -c`."""

import pathlib
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from support import BINARY, ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
NGINX_CONF = ROOT / "deploy" / "nginx" / "oxwsgi.conf"
# The Kubernetes version the manifests are checked against (kubernetes-validate's schemas).
KUBERNETES_VERSION = "1.32.0"


def documents():
    docs = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


@pytest.mark.parametrize("path", sorted(KUBERNETES.glob("*.yaml")), ids=lambda p: p.name)
def test_each_manifest_is_valid_for_kubernetes(path):
    for doc in yaml.safe_load_all(path.read_text()):
        # strict: a misspelt field (readinesProbe) is an error, not silently dropped.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validation_catches_a_misspelt_field():
    doc = documents()[("Deployment", "mysite")]
    container = doc["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def option(args, name):
    return args[args.index(name) + 1]


def test_the_deployment_agrees_with_its_oxwsgi_options():
    docs = documents()
    deployment = docs[("Deployment", "mysite")]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[:2] == ["oxwsgi", "start-server"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(option(args, "--port"))
    assert ports["metrics"] == int(option(args, "--metrics-port"))
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/live"),
                        ("startupProbe", "/live")):
        assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == option(args, "--metrics-port")

    # The pod gets its SIGTERM after preStop, then has the graceful and shutdown timeouts to
    # drain: the grace period must cover all three, or the kubelet kills requests mid-way.
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = int(option(args, "--graceful-timeout")) + int(option(args, "--shutdown-timeout"))
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain
    # A rolling update never lowers capacity.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_service_the_budget_and_the_autoscaler_point_at_the_deployment():
    docs = documents()
    deployment = docs[("Deployment", "mysite")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = docs[("Service", "mysite")]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    budget = docs[("PodDisruptionBudget", "mysite")]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = docs[("HorizontalPodAutoscaler", "mysite")]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "mysite"}
    assert hpa["spec"]["minReplicas"] >= budget["spec"]["minAvailable"] + 1
    (metric,) = hpa["spec"]["metrics"]
    name = metric["pods"]["metric"]["name"]
    # The adapter's rule makes that metric from oxwsgi's request counter.
    adapter = yaml.safe_load(docs[("ConfigMap", "prometheus-adapter")]["data"]["config.yaml"])
    (rule,) = adapter["rules"]
    assert "oxwsgi_requests_total" in rule["seriesQuery"]
    assert rule["name"]["as"] == name
    assert "rate(" in rule["metricsQuery"]


def test_every_option_the_deployment_gives_oxwsgi_exists():
    help_text = subprocess.run([str(BINARY), "start-server", "--help"], capture_output=True,
                               text=True, timeout=30).stdout
    args = documents()[("Deployment", "mysite")]["spec"]["template"]["spec"]["containers"][0][
        "args"]
    options = [a for a in args if a.startswith("--")]
    assert options
    assert "--metrics-port" in options
    unknown = [o for o in options
               if not re.search(rf"^\s+{re.escape(o)}\b", help_text, re.MULTILINE)]
    assert unknown == []


def test_the_nginx_configuration_passes_nginx_t(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not pathlib.Path(nginx).exists():
        pytest.fail("nginx is not installed: run scripts/test, which installs it")
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "events {}\n"
        "http {\n"
        f"    access_log {tmp_path}/access.log;\n"
        f"    include {NGINX_CONF};\n"
        "}\n"
    )
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(main),
                             "-e", str(tmp_path / "error.log")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_the_haproxy_configuration_passes_haproxy_c():
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not pathlib.Path(haproxy).exists():
        pytest.fail("haproxy is not installed: run scripts/test, which installs it")
    result = subprocess.run([haproxy, "-c", "-f", str(ROOT / "deploy" / "haproxy" / "haproxy.cfg")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration file is valid" in result.stdout
