"""The managed engine's bridge: its subnet and address pool avoid networks in use; its own firewall
rules replace only its own; the rules of gone bridges are found for deletion; exec roots of
stopped engines go; a stopping dockerd is known to be done."""

from __future__ import annotations

import ipaddress
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from labkit.engines import dockerd
from labkit.errors import EngineStartFailed
from labkit.home import LabPaths
from labkit.machine import processes


def _using(monkeypatch, *networks: str) -> None:
    nets = [ipaddress.ip_network(n) for n in networks]
    monkeypatch.setattr(dockerd, "_used_networks", lambda: nets)


def test_free_subnet_starts_where_told(monkeypatch):
    _using(monkeypatch)
    assert dockerd._free_subnet(start=4) == "10.123.5.0/24"


def test_free_subnet_skips_used_subnets_and_used_pools(monkeypatch):
    _using(monkeypatch, "10.123.5.0/24", "10.124.6.0/24", "192.168.1.0/24")
    # 10.123.5.0/24 is in use; 10.123.6.0/24 is free, but its pool 10.124.6.0/24 is not.
    assert dockerd._free_subnet(start=4) == "10.123.7.0/24"


def test_free_subnet_skips_a_wider_route(monkeypatch):
    _using(monkeypatch, "10.123.0.0/20")  # 10.123.0.0 – 10.123.15.255
    assert dockerd._free_subnet(start=4) == "10.123.16.0/24"


def test_free_subnet_wraps_around(monkeypatch):
    _using(monkeypatch, "10.123.254.0/24")
    assert dockerd._free_subnet(start=253) == "10.123.1.0/24"


def test_no_free_subnet_is_an_engine_start_failure(monkeypatch):
    _using(monkeypatch, "10.0.0.0/8")
    with pytest.raises(EngineStartFailed) as info:
        dockerd._free_subnet(start=0)
    assert "10.123.0.0/16" in str(info.value) and "Next:" in str(info.value)


def test_address_pool_is_beside_the_bridge():
    assert dockerd._address_pool("10.123.7.0/24") == "10.124.7.0/24"
    assert dockerd._address_pool("10.123.254.0/24") == "10.124.254.0/24"


SAVED_FILTER = """*filter
:FORWARD DROP [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o lk-0123abcd -j DOCKER
-A FORWARD -i lk-0123abcd ! -o lk-0123abcd -j ACCEPT
-A FORWARD -o lk-99999999 -j DOCKER
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -o lk-notalab -j DOCKER
COMMIT
"""
SAVED_NAT = """*nat
-A POSTROUTING -s 10.123.5.0/24 ! -o lk-0123abcd -j MASQUERADE
-A POSTROUTING -s 10.123.6.0/24 ! -o lk-99999999 -j MASQUERADE
COMMIT
"""


def test_stale_rules_deletes_only_the_rules_of_lab_bridges_that_are_gone():
    script = dockerd.stale_rules(
        {"filter": SAVED_FILTER, "nat": SAVED_NAT}, links={"lo", "eth0", "docker0", "lk-99999999"}
    )
    assert script.splitlines() == [
        "*filter",
        "-D FORWARD -o lk-0123abcd -j DOCKER",
        "-D FORWARD -i lk-0123abcd ! -o lk-0123abcd -j ACCEPT",
        "COMMIT",
        "*nat",
        "-D POSTROUTING -s 10.123.5.0/24 ! -o lk-0123abcd -j MASQUERADE",
        "COMMIT",
    ]


def test_stale_rules_deletes_published_port_rules_of_lab_containers_whose_network_is_gone():
    """dockerd's rule for a published port names the container's address, not its bridge: it is
    stale once no network of this machine holds that address (and only for a lab's addresses)."""
    nat = """*nat
-A POSTROUTING -s 10.123.201.2/32 -d 10.123.201.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A POSTROUTING -s 10.123.5.2/32 -d 10.123.5.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A POSTROUTING -s 10.124.9.3/32 -d 10.124.9.3/32 -p tcp -m tcp --dport 8080 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
COMMIT
"""
    networks = [ipaddress.ip_network("10.123.5.0/24"), ipaddress.ip_network("192.168.1.0/24")]
    script = dockerd.stale_rules({"nat": nat}, links={"lo", "eth0", "docker0"}, networks=networks)
    assert script.splitlines() == [
        "*nat",
        "-D POSTROUTING -s 10.123.201.2/32 -d 10.123.201.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
        "-D POSTROUTING -s 10.124.9.3/32 -d 10.124.9.3/32 -p tcp -m tcp --dport 8080 -j MASQUERADE",
        "COMMIT",
    ]  # 10.123.5.2's bridge still has its network; 172.17.0.2 is docker0's, not a lab's
    assert dockerd.stale_rules({"nat": nat}, links={"lo"}, networks=None) == ""  # networks unknown (no `ip`): kept


def test_stale_rules_is_empty_when_every_lab_bridge_exists():
    links = {"lo", "lk-0123abcd", "lk-99999999"}
    assert dockerd.stale_rules({"filter": SAVED_FILTER, "nat": SAVED_NAT}, links) == ""


def test_lab_rules_give_the_labs_networks_a_way_out_and_replace_only_its_own_old_rules():
    tag = '-m comment --comment "labkit lk-0123abcd"'
    saved = {
        "filter": SAVED_FILTER.replace("COMMIT", f"-A FORWARD -s 10.123.5.0/24 {tag} -j ACCEPT\nCOMMIT"),
        "nat": SAVED_NAT.replace(
            "COMMIT",
            (
                '-A POSTROUTING -s 10.123.6.0/24 ! -d 10.123.6.0/24 -m comment --comment "labkit lk-99999999" '
                "-j MASQUERADE\nCOMMIT"
            ),
        ),
    }
    script = dockerd.lab_rules("lk-0123abcd", "10.123.5.0/24", "10.124.5.0/24", saved)
    assert script.splitlines() == [
        "*filter",
        f"-D FORWARD -s 10.123.5.0/24 {tag} -j ACCEPT",  # left by an earlier start of this lab
        f"-I FORWARD -s 10.123.5.0/24 {tag} -j ACCEPT",
        f"-I FORWARD -d 10.123.5.0/24 -m conntrack --ctstate RELATED,ESTABLISHED {tag} -j ACCEPT",
        f"-I FORWARD -s 10.124.5.0/24 {tag} -j ACCEPT",
        f"-I FORWARD -d 10.124.5.0/24 -m conntrack --ctstate RELATED,ESTABLISHED {tag} -j ACCEPT",
        "COMMIT",
        "*nat",
        f"-A POSTROUTING -s 10.123.5.0/24 ! -d 10.123.5.0/24 {tag} -j MASQUERADE",
        f"-A POSTROUTING -s 10.124.5.0/24 ! -d 10.124.5.0/24 {tag} -j MASQUERADE",
        "COMMIT",
    ]  # dockerd's old rules for the same bridge, and another lab's, are not its to touch
    added = {
        table: "\n".join(
            "-A " + line[3:]
            for line in script.split(f"*{table}\n")[1].split("COMMIT")[0].splitlines()
            if line[:3] in ("-I ", "-A ")
        )
        for table in ("filter", "nat")
    }
    assert dockerd.stale_rules(added, links={"lo", "lk-0123abcd"}) == ""  # kept while the bridge is there
    assert dockerd.stale_rules(added, links={"lo"}).count("-D ") == 6  # and go with it


def test_run_entries_of_stopped_engines_are_removed_and_those_in_use_kept(tmp_path, monkeypatch):
    used_root, used_socket = tmp_path / "labkit-0123abcd", tmp_path / "labkit-0123abcd.sock"
    old_root, old_socket = tmp_path / "labkit-99999999", tmp_path / "labkit-99999999.sock"
    other = tmp_path / "labkit-dockerd-start.lock"
    for folder in (used_root, old_root / "containerd"):
        folder.mkdir(parents=True)
    for path in (used_socket, old_socket, other):
        path.write_text("")
    monkeypatch.setattr(
        dockerd.processes,
        "all_arguments",
        lambda: ["dockerd", f"--exec-root={used_root}", f"--host=unix://{used_socket}"],
    )
    assert sorted(dockerd._forget_run_entries(tmp_path)) == [old_root, old_socket]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "labkit-0123abcd",
        "labkit-0123abcd.sock",
        "labkit-dockerd-start.lock",
    ]


def test_a_stopping_dockerd_is_finished_once_shut_down_and_its_containerd_gone(tmp_path):
    """dockerd logs its shutdown, then waits a second for its containerd: `_shut_down` says when
    only that wait is left, from what the log says since the stop began."""
    lay = dockerd.layout(LabPaths(home=tmp_path / "home", cache=tmp_path))
    lay.folder.mkdir(parents=True)
    lay.log.write_text(f'level=info msg="{dockerd.SHUT_DOWN}"\n')  # an earlier run's: not this stop's
    finished = dockerd._shut_down(lay)
    assert finished() is False
    with open(lay.log, "a") as log:
        log.write("level=info msg=\"Processing signal 'terminated'\"\n")
    assert finished() is False
    # its containerd still runs (here: a process named after the exec root's containerd folder)
    containerd = subprocess.Popen(["sh", "-c", "sleep 30", f"{lay.exec_root}/containerd/containerd.toml"])
    try:
        deadline = time.monotonic() + 5
        while not processes.cmdline(containerd.pid)[2:] and time.monotonic() < deadline:
            time.sleep(0.01)
        with open(lay.log, "a") as log:
            log.write(f'level=info msg="{dockerd.SHUT_DOWN}"\n')
        assert finished() is False
    finally:
        containerd.kill()
        containerd.wait()
    assert finished() is True


def test_dockerd_finds_a_containerd_that_quiets_the_garbage_collector(tmp_path, monkeypatch):
    """dockerd runs `containerd --config FILE …` from its PATH: the engine's own adds the collector's
    setting to FILE once (dockerd may start containerd again with the same file), then runs the real one."""
    system = tmp_path / "system"
    system.mkdir()
    real = system / "containerd"
    real.write_text('#!/bin/sh\necho "real containerd: $*"\n')
    real.chmod(0o755)
    monkeypatch.setenv("PATH", f"{system}:/usr/bin:/bin")
    lay = dockerd.layout(LabPaths(home=tmp_path / "home", cache=tmp_path))
    env = dockerd._with_quiet_containerd(lay)
    assert env["PATH"].split(":")[:2] == [str(lay.folder / "bin"), str(system)]
    config = tmp_path / "containerd.toml"
    config.write_text('version = 0\ndisabled_plugins = ["cri"]\n\n[plugins]\n  [plugins.linux]\n    runtime = "runc"\n')
    for _ in range(2):
        ran = subprocess.run(
            ["containerd", "--config", str(config), "--log-level", "info"], env=env, capture_output=True, text=True
        )
        assert ran.stdout == f"real containerd: --config {config} --log-level info\n"
    text = config.read_text()
    assert text.count("[plugins.scheduler]") == 1 and "pause_threshold = 0.0" in text
    assert tomllib.loads(text)["plugins"]["scheduler"] == {"pause_threshold": 0.0}
    assert tomllib.loads(text)["plugins"]["linux"] == {"runtime": "runc"}


def test_without_containerd_dockerd_keeps_its_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert dockerd._with_quiet_containerd(dockerd.layout(LabPaths(home=tmp_path / "home", cache=tmp_path))) is None


def test_a_throwaway_engine_trades_memory_for_cpu_and_a_lasting_one_keeps_gos_default(tmp_path, monkeypatch):
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no containerd: dockerd's own environment otherwise
    lay = dockerd.layout(LabPaths(home=tmp_path / "home", cache=tmp_path))
    assert dockerd._environment(lay, throwaway=False) is None
    throwaway = dockerd._environment(lay, throwaway=True)
    assert throwaway["GOGC"] == dockerd.THROWAWAY_GOGC == "400" and throwaway["PATH"] == str(tmp_path)


MOUNTINFO = """\
22 1 0:21 / / rw,relatime - overlay overlay rw
30 22 254:1 /srv /work rw,relatime - ext4 /dev/vda1 rw
41 30 254:1 /srv/lab/engine/data /work/lab/engine/data rw,relatime - ext4 /dev/vda1 rw
52 30 0:55 / /work/other/engine/data rw,relatime - tmpfs someones rw
53 52 0:55 / /work/other/engine/data rw,relatime - tmpfs someones rw
60 30 254:1 /srv/elsewhere /work/third/engine/data rw,relatime - ext4 /dev/vda1 rw
70 30 0:60 / /work/with\\040space rw - tmpfs t rw
"""


def test_only_a_folder_bound_onto_itself_is_the_engines_to_unmount():
    table = dockerd.mounts(MOUNTINFO)
    assert dockerd.is_bound_onto_itself(Path("/work/lab/engine/data"), table)  # dockerd's private bind
    assert dockerd.is_bound_onto_itself(Path("/work/other/engine/data"), table)  # dockerd's bind on someone's tmpfs
    assert not dockerd.is_bound_onto_itself(Path("/work/other/engine/data"), table[:4])  # the tmpfs alone
    assert not dockerd.is_bound_onto_itself(Path("/work/third/engine/data"), table)  # another folder bound there
    assert not dockerd.is_bound_onto_itself(Path("/work/nothing"), table)
    assert table[-1].point == "/work/with space"


def test_a_data_root_on_overlayfs_without_a_loop_device_keeps_images_without_overlay(tmp_path, monkeypatch):
    """Where no loop device can be had (a container given none), the engine is told to keep its images
    without overlay (containerd's native snapshotter, or vfs), and the learner is told why, once."""
    import subprocess

    from labkit.engines import dockerd
    from labkit.home import LabPaths

    paths = LabPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    monkeypatch.setattr(
        dockerd, "filesystem_of", lambda path, table=None: dockerd.Mount(1, 0, "0:1", "/", "/", "overlay", "overlay")
    )

    def no_loop(*argv):
        if argv[0] == "mount":
            raise subprocess.CalledProcessError(
                32, argv, stderr="mount: failed to setup loop device: No such file or directory\n"
            )

    monkeypatch.setattr(dockerd, "_system", no_loop)
    driver, said = dockerd.prepare_data_root(paths, "containerd")
    assert driver == "native" and "no loop device" in said[0] and "failed to setup loop device" in said[0]
    assert not (paths.engine_dir / "data.img").exists()  # the file made for it is not left behind
    assert dockerd.prepare_data_root(paths, "classic") == ("vfs", [])  # said once


def test_the_file_system_a_path_lies_on_is_read_from_mountinfo():
    from pathlib import Path

    from labkit.engines.dockerd import filesystem_of, mounts

    table = mounts(
        "22 1 0:21 / / rw - ext4 /dev/vda rw\n"
        "30 22 0:40 / /var/lib/docker rw - overlay overlay rw,lowerdir=/a\n"
        "31 30 7:0 / /var/lib/docker/x/data rw - ext4 /dev/loop0 rw\n"
    )
    assert filesystem_of(Path("/var/lib/docker/x"), table).fstype == "overlay"
    assert filesystem_of(Path("/var/lib/docker/x/data/y"), table).fstype == "ext4"
    assert filesystem_of(Path("/home"), table).fstype == "ext4"
