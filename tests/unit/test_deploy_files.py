"""The Kubernetes files (deploy/kubernetes, untestable here without a cluster) agree with what is
tested: the single-user image's Dockerfile and `labkit singleuser`; and the Helm values are ones the
Zero to JupyterHub chart accepts, by its published values schema (deploy/kubernetes/schema)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from labkit.classroom import singleuser
from labkit.labs import jupyter

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VALUES = yaml.safe_load((DEPLOY / "kubernetes/values.yaml").read_text())
DOCKERFILE = (DEPLOY / "singleuser/Dockerfile").read_text()
CHART = DEPLOY / "kubernetes/schema"  # the chart's values.schema.json and defaults, SOURCE.md says whence
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
CHART_DEFAULTS = yaml.safe_load((CHART / "chart-values.yaml").read_text())


def test_the_values_run_the_image_as_its_learner_on_the_start_notebook():
    single = VALUES["singleuser"]
    assert f"--uid {single['uid']} " in DOCKERFILE and f"USER {single['uid']}" in DOCKERFILE
    assert re.search(rf'^CMD \["{single["cmd"]}"\]$', DOCKERFILE, re.M)
    assert single["defaultUrl"] == jupyter.start_path()


def test_the_pod_may_run_rootless_docker():
    # Kubernetes refuses a privileged container whose privilege escalation is off; newuidmap is setuid.
    assert VALUES["hub"]["config"]["KubeSpawner"]["privileged"] is True
    assert VALUES["singleuser"]["allowPrivilegeEscalation"] is True


def test_the_mirror_the_values_name_is_the_one_deployed():
    source = Path(singleuser.__file__).read_text()
    for name in VALUES["singleuser"]["extraEnv"]:
        assert f'"{name}"' in source  # a variable labkit singleuser reads
    service = [
        d for d in yaml.safe_load_all((DEPLOY / "kubernetes/mirror.yaml").read_text()) if d["kind"] == "Service"
    ][0]
    port = service["spec"]["ports"][0]["port"]
    assert VALUES["singleuser"]["extraEnv"]["LABKIT_MIRROR"] == f"http://{service['metadata']['name']}:{port}"


def test_a_shared_workshop_code_makes_nobody_admin():
    config = VALUES["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "dummy"  # one password for everyone
    assert not config.get("Authenticator", {}).get("admin_users")  # so no name may be the admin's


def test_a_pod_whose_home_is_on_overlayfs_keeps_its_images_without_overlay():
    """Seen in a pod run on a container's own file system: the rootless engine's overlayfs snapshots
    failed to mount ("invalid argument") at the first image. There it is given the native snapshotter,
    and says so; on a volume it makes its own choice."""
    from labkit.classroom.singleuser import engine_data, storage_for
    from labkit.engines.dockerd import Mount

    data = engine_data({"HOME": "/home/jovyan"})
    assert data == Path("/home/jovyan/.local/share/docker")
    root = Mount(1, 0, "0:40", "/", "/", "overlay", "overlay")
    volume = Mount(2, 1, "8:1", "/", "/home/jovyan", "ext4", "/dev/sda1")
    driver, said = storage_for(data, [root])
    assert driver == "native" and "overlayfs" in said[0] and "volume" in said[0]
    assert storage_for(data, [root, volume]) == ("", [])


def _merged(defaults: dict, ours: dict) -> dict:
    """Our values over the chart's, as Helm merges them before it validates: maps key by key, a null
    removes the chart's key, anything else replaces it."""
    merged = dict(defaults)
    for key, value in ours.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _schema_errors(values: dict) -> list[tuple[str, str]]:
    """Where and why the chart's schema refuses `values` (merged over its defaults, as `helm install` checks)."""
    validator = jsonschema.validators.validator_for(SCHEMA)
    validator.check_schema(SCHEMA)
    errors = validator(SCHEMA).iter_errors(_merged(CHART_DEFAULTS, values))
    return sorted((error.json_path, error.message) for error in errors)


def test_the_values_conform_to_the_charts_published_schema():
    assert jsonschema.validators.validator_for(SCHEMA) is jsonschema.Draft7Validator  # the draft it declares
    assert _schema_errors(VALUES) == []


@pytest.mark.parametrize(
    ("mistake", "path", "said"),
    [
        ({"singleuser": {"memmory": {"limit": "1536M"}}}, "$.singleuser", "'memmory' was unexpected"),
        ({"singleuser": {"uid": "1000"}}, "$.singleuser.uid", "'1000' is not of type 'integer', 'null'"),
        ({"hub": {"config": {"kubeSpawner": {"privileged": True}}}}, "$.hub.config", "'kubeSpawner'"),
        ({"singleuser": {"storage": {"type": "nfs"}}}, "$.singleuser.storage.type", "'nfs' is not one of"),
    ],
    ids=["misspelt-key", "wrong-type", "class-not-capitalised", "value-not-allowed"],
)
def test_the_schema_refuses_a_mistake_and_says_where(mistake, path, said):
    errors = _schema_errors(_merged(VALUES, mistake))
    assert [where for where, _ in errors] == [path], errors
    assert said in errors[0][1]


def test_the_chart_version_named_is_the_schemas():
    version = re.search(r"^- Tag: `(\S+)`", (CHART / "SOURCE.md").read_text(), re.M)[1]
    assert CHART_DEFAULTS["hub"]["image"]["tag"] == version  # the defaults kept are that release's
    for text in ((DEPLOY / "kubernetes/values.yaml").read_text(), (ROOT / "docs/classroom.md").read_text()):
        assert f"chart, version {version})" in text
        assert set(re.findall(r"--version (\S+)", text)) == {version}  # every helm command pins it
