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

from jobrunner.values import duration

KUBE = Path(__file__).resolve().parents[2] / "packaging" / "kubernetes"
HEALTH_TIMEOUT = 5  # `jobrunner health --timeout` default, in seconds


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


DEPLOYMENTS = ["jobrunner-scheduler", "jobrunner-worker"]


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
    scheduler, worker = (find("Deployment", name) for name in DEPLOYMENTS)
    assert container(scheduler)["args"] == ["run", "--role", "scheduler"]
    assert container(worker)["args"] == ["run", "--role", "worker"]
    assert scheduler["spec"]["replicas"] >= 1  # ticks fire once, however many schedulers
    assert worker["spec"]["replicas"] == 2


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


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_probes_run_jobrunner_health(name: str) -> None:
    spec = container(find("Deployment", name))
    assert spec["readinessProbe"]["exec"]["command"] == ["jobrunner", "health"]
    for probe in ("livenessProbe", "startupProbe"):  # a Redis outage must not restart pods
        assert spec[probe]["exec"]["command"] == ["jobrunner", "health", "--liveness"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert spec[probe]["timeoutSeconds"] > HEALTH_TIMEOUT


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


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_the_kubelet_waits_longer_than_the_grace(name: str) -> None:
    deployment = find("Deployment", name)
    grace = duration.parse(env(deployment)["JOBRUNNER_GRACE"]).total_seconds()
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace


def test_selectors_match_their_pods() -> None:
    labels = {
        name: find("Deployment", name)["spec"]["template"]["metadata"]["labels"]
        for name in DEPLOYMENTS
    }
    for name in DEPLOYMENTS:
        selector = find("Deployment", name)["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels[name].items()
        budget = find("PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"]
        assert budget.items() <= labels[name].items()


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
