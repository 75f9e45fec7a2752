"""The Kubernetes files (deploy/kubernetes, untestable here without a cluster) agree with what is
tested: the single-user image's Dockerfile and `labkit singleuser`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from labkit.classroom import singleuser
from labkit.labs import jupyter

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
VALUES = yaml.safe_load((DEPLOY / "kubernetes/values.yaml").read_text())
DOCKERFILE = (DEPLOY / "singleuser/Dockerfile").read_text()


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
