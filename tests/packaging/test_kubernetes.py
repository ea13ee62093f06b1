"""packaging/kubernetes: the manifests load, agree with each other and with the image."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli
from test_container import CONTAINERFILE, image_env, stages, values

from jobrunner.config import load
from jobrunner.config.access import resolve_token
from jobrunner.daemon.process import STALLED
from jobrunner.values import duration
from jobrunner.web import address

KUBE = Path(__file__).resolve().parents[2] / "packaging" / "kubernetes"


def manifests() -> dict[str, list[dict[str, Any]]]:
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        for path in sorted(KUBE.glob("*.yaml"))
    }


def objects() -> list[dict[str, Any]]:
    return [
        doc for name, docs in manifests().items() if name != "kustomization.yaml" for doc in docs
    ]


def find(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def env(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment)["env"]}


def args(deployment: dict[str, Any]) -> dict[str, str]:
    """`jobrunner run`'s options in the container's args, by name."""
    command, *rest = container(deployment)["args"]
    assert command == "run"
    assert len(rest) % 2 == 0, rest  # every option here takes a value
    return dict(zip(rest[::2], rest[1::2], strict=True))


def named_ports(deployment: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container(deployment).get("ports", [])}


def pod_labels(name: str) -> dict[str, str]:
    return dict(find("Deployment", name)["spec"]["template"]["metadata"]["labels"])


ROLES = {"jobrunner-scheduler": "scheduler", "jobrunner-worker": "worker", "jobrunner-web": "web"}
DEPLOYMENTS = list(ROLES)
# The daemons that hand work back on SIGTERM (the web role has none to finish).
GRACEFUL = ["jobrunner-scheduler", "jobrunner-worker"]
ACCESS_MOUNT = "/run/secrets/jobrunner"


def test_every_manifest_is_a_kubernetes_object() -> None:
    for name, docs in manifests().items():
        assert docs, name
        for doc in docs:
            assert {"apiVersion", "kind"} <= set(doc), name
            assert doc["kind"] == "Kustomization" or doc["metadata"]["name"], name


def test_kustomization_applies_everything_but_the_example_secret() -> None:
    (kustomization,) = manifests()["kustomization.yaml"]
    files = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    assert kustomization["namespace"] == find("Namespace", "jobrunner")["metadata"]["name"]
    (image,) = kustomization["images"]
    for name in DEPLOYMENTS:
        assert container(find("Deployment", name))["image"].split(":")[0] == image["name"]


def test_one_role_per_deployment() -> None:
    scheduler, worker, web = (find("Deployment", name) for name in DEPLOYMENTS)
    for name, role in ROLES.items():
        assert args(find("Deployment", name))["--role"] == role, name
    assert scheduler["spec"]["replicas"] >= 1  # ticks fire once, however many schedulers
    assert worker["spec"]["replicas"] == 2
    assert web["spec"]["replicas"] >= 1


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_every_daemon_serves_http_on_its_named_port(name: str) -> None:
    deployment = find("Deployment", name)
    where = address.parse(args(deployment)["--http"])
    assert named_ports(deployment) == {"http": where.port}
    # Beyond loopback, so the kubelet and Prometheus reach it; allowed by the access entries.
    assert not where.loopback


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_storage_comes_from_the_secret(name: str) -> None:
    secret = find("Secret", "jobrunner-storage")
    ref = env(find("Deployment", name))["JOBRUNNER_STORAGE"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"]
    assert secret["stringData"][ref["key"]].startswith("rediss://")


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_jobs_are_the_whole_configmap_where_the_image_looks(name: str) -> None:
    deployment = find("Deployment", name)
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == find("ConfigMap", "jobrunner-jobs")["metadata"]["name"]
    (mount,) = [m for m in container(deployment)["volumeMounts"] if m["name"] == volume["name"]]
    assert "subPath" not in mount  # a subPath mount never sees ConfigMap updates
    assert mount["readOnly"] is True
    assert mount["mountPath"] == image_env(stages(CONTAINERFILE)[1])["JOBRUNNER_JOBS_DIR"]


PROBE_PATHS = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_probes_ask_the_daemon_over_http(name: str) -> None:
    spec = container(find("Deployment", name))
    for probe, path in PROBE_PATHS.items():
        # /healthz for liveness: a Redis outage fails /readyz only, and must not restart pods.
        assert set(spec[probe]) - {"periodSeconds", "timeoutSeconds", "failureThreshold"} == {
            "httpGet"
        }, probe
        assert spec[probe]["httpGet"] == {"path": path, "port": "http"}, probe
        assert spec[probe]["timeoutSeconds"] <= spec[probe]["periodSeconds"], probe
    assert "http" in named_ports(find("Deployment", name))
    startup, liveness = spec["startupProbe"], spec["livenessProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # time to connect
    # A hang is one /healthz notices after STALLED s; a restart needs several misses.
    assert liveness["failureThreshold"] >= 3
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > STALLED


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_locked_down(name: str) -> None:
    deployment = find("Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    uid, _, gid = values(stages(CONTAINERFILE)[1], "USER")[-1].partition(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
        int(uid),
        int(gid),
    )
    assert pod["automountServiceAccountToken"] is False
    security = container(deployment)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    resources = container(deployment)["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


@pytest.mark.parametrize("name", GRACEFUL)
def test_the_kubelet_waits_longer_than_the_grace(name: str) -> None:
    deployment = find("Deployment", name)
    grace = duration.parse(env(deployment)["JOBRUNNER_GRACE"]).total_seconds()
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace


def selects(selector: dict[str, str]) -> list[str]:
    """The Deployments whose pods `selector` matches."""
    return [name for name in DEPLOYMENTS if selector.items() <= pod_labels(name).items()]


def test_selectors_match_their_pods() -> None:
    for name in DEPLOYMENTS:
        assert selects(find("Deployment", name)["spec"]["selector"]["matchLabels"]) == [name]
        budget = find("PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"]
        assert selects(budget) == [name]


def test_the_web_service_reaches_the_web_pods_on_their_named_port() -> None:
    service = find("Service", "jobrunner-web")["spec"]
    assert service.get("type", "ClusterIP") == "ClusterIP"
    assert selects(service["selector"]) == ["jobrunner-web"]
    (port,) = service["ports"]
    assert port["port"] == 80
    assert port["targetPort"] == "http"
    assert port["targetPort"] in named_ports(find("Deployment", "jobrunner-web"))


def configmap_as_mounted(root: Path) -> Path:
    """The ConfigMap laid out as the kubelet mounts it: `..data` swapped in by symlink."""
    data = find("ConfigMap", "jobrunner-jobs")["data"]
    timestamped = root / "..2024_01_01_00_00_00.000000001"
    timestamped.mkdir(parents=True)
    for key, text in data.items():
        (timestamped / key).write_text(text)
        os.symlink(f"..data/{key}", root / key)
    os.symlink(timestamped.name, root / "..data")
    return root


def access_entries(root: Path) -> dict[str, Any]:
    loaded = load([configmap_as_mounted(root)])
    assert loaded.ok, loaded.problems
    return dict(loaded.config.access)


def access_secret() -> dict[str, str]:
    return dict(find("Secret", "jobrunner-access")["stringData"])


def test_the_configmap_declares_who_may_call_the_api(tmp_path: Path) -> None:
    entries = access_entries(tmp_path / "jobs.d")
    assert entries["prometheus"].scopes == {"read"}
    assert entries["operator"].scopes == {"read", "operate"}
    for entry in entries.values():  # a file of the mounted Secret, never the environment
        assert entry.token.kind == "file", entry.name


def test_every_token_is_a_key_of_the_mounted_secret(tmp_path: Path) -> None:
    entries = access_entries(tmp_path / "jobs.d")
    secret = access_secret()

    def read_file(path: str) -> str:  # the Secret as the kubelet mounts it
        folder, _, key = path.rpartition("/")
        assert folder == ACCESS_MOUNT, path
        return secret[key]

    for entry in entries.values():
        assert resolve_token(entry, {}, read_file), entry.name
    assert set(secret) == {entry.token.target.rpartition("/")[2] for entry in entries.values()}
    # One token per entry: a token shared by two entries is allowed the scopes of either.
    assert len(set(secret.values())) == len(secret)


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_every_daemon_mounts_the_tokens(name: str) -> None:
    """Each serves /metrics beyond loopback, so each must resolve the tokens (re-read every 5 s)."""
    deployment = find("Deployment", name)
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == find("Secret", "jobrunner-access")["metadata"]["name"]
    assert volume["secret"].get("optional") is not True  # a missing Secret stops the start
    (mount,) = [m for m in container(deployment)["volumeMounts"] if m["name"] == volume["name"]]
    assert mount == {"name": volume["name"], "mountPath": ACCESS_MOUNT, "readOnly": True}


def test_the_configmap_job_files_validate_once_each(tmp_path: Path) -> None:
    mounted = configmap_as_mounted(tmp_path / "jobs.d")
    result = run_cli("validate", "--strict", str(mounted))
    assert result.returncode == 0, result.stdout + result.stderr
    files = len(find("ConfigMap", "jobrunner-jobs")["data"])
    # Each file once: the hidden `..data` copies are not read a second time.
    assert f"ok: {files} files, " in result.stdout + result.stderr, result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("kubernetes_validate") is None,
    reason="kubernetes-validate is not installed (left out of the test extras: 108 MB of "
    "schemas); pip install kubernetes-validate to run this check",
)
def test_objects_match_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    for obj in objects():
        # strict: an unknown (misspelt) field fails too; the oldest supported minor.
        kubernetes_validate.validate(obj, "1.28", strict=True)
