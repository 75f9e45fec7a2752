"""The pure parts of a grading sandbox: cgroup files (v1 and v2, on a stand-in tree), which
folders are hidden or bound back, what a machine lacks, and the limits' sizes."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from labkit import cli, sandbox
from labkit.engines.fetched import FetchedEngine
from labkit.sandbox import _cgroups, _engine, _view


def v1_tree(root: Path) -> Path:
    for controller in ("memory", "pids", "freezer"):
        (root / controller).mkdir(parents=True)
    return root


def v2_tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


def test_v1_limits_go_into_each_controllers_group(tmp_path):
    root = v1_tree(tmp_path / "cg")
    group = _cgroups.Group("labkit-sb-1-1", root)
    group.create(memory=2 * 2**30, pids=1000)
    assert (root / "memory/labkit-sandboxes/labkit-sb-1-1/memory.limit_in_bytes").read_text() == str(2 * 2**30)
    assert (root / "pids/labkit-sandboxes/labkit-sb-1-1/pids.max").read_text() == "1000"
    assert group.join_commands() == [
        f"echo $$ > {root}/{c}/labkit-sandboxes/labkit-sb-1-1/cgroup.procs" for c in ("memory", "pids", "freezer")
    ]


def test_v2_limits_go_into_one_group_with_the_controllers_enabled(tmp_path):
    root = v2_tree(tmp_path / "cg")
    (root / "labkit-sandboxes").mkdir()
    (root / "labkit-sandboxes" / "cgroup.subtree_control").write_text("")
    group = _cgroups.Group("labkit-sb-1-1", root)
    group.create(memory=512 * 2**20, pids=100)
    folder = root / "labkit-sandboxes/labkit-sb-1-1"
    assert (folder / "memory.max").read_text() == str(512 * 2**20) and (folder / "pids.max").read_text() == "100"
    assert (root / "cgroup.subtree_control").read_text() in ("+memory", "+pids")  # what the stand-in file kept last
    assert group.join_commands() == [f"echo $$ > {folder}/cgroup.procs"]


@pytest.mark.parametrize(
    "tree, files, expected",
    [
        (
            v1_tree,
            {"memory/labkit-sandboxes/g/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"},
            ["used more than 2 GiB of memory"],
        ),
        (v1_tree, {"pids/labkit-sandboxes/g/pids.events": "max 17\n"}, ["tried to run more than 1,000 processes"]),
        (
            v2_tree,
            {
                "labkit-sandboxes/g/memory.events": "low 0\nhigh 0\nmax 40\noom 1\noom_kill 1\n",
                "labkit-sandboxes/g/pids.events": "max 0\n",
            },
            ["used more than 2 GiB of memory"],
        ),
        (
            v1_tree,
            {
                "memory/labkit-sandboxes/g/memory.oom_control": "oom_kill 0\n",
                "pids/labkit-sandboxes/g/pids.events": "max 0\n",
            },
            [],
        ),
    ],
)
def test_the_limits_a_group_hit_are_said_in_words(tmp_path, tree, files, expected):
    root = tree(tmp_path / "cg")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    hit = _cgroups.Group("g", root).limits_hit(memory=2 * 2**30, pids=1000)
    assert len(hit) == len(expected) and all(e in h for e, h in zip(expected, hit))


@pytest.mark.parametrize(
    "tree, name, stat, own",
    [
        # v1: the hierarchy's total_rss (its programs, THP included), not cache (the files they wrote)
        (
            v1_tree,
            "memory/labkit-sandboxes/g/memory.stat",
            "cache 195035136\nrss 1000\ntotal_cache 195035136\ntotal_rss 150994944\n",
            150994944,
        ),
        (v2_tree, "labkit-sandboxes/g/memory.stat", "anon 157286400\nfile 195035136\nkernel 8000000\n", 157286400),
        (v1_tree, "memory/labkit-sandboxes/g/memory.stat", "cache 5\n", None),
    ],
)
def test_a_groups_own_memory_leaves_out_the_page_cache(tmp_path, tree, name, stat, own):
    root = tree(tmp_path / "cg")
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(stat)
    assert _cgroups.Group("g", root).own_memory() == own
    assert _cgroups.Group("gone", root).own_memory() is None


def test_a_machine_without_memory_and_pids_controllers_is_said_to_lack_them(tmp_path):
    assert _cgroups.missing_controllers(tmp_path) == ["memory", "pids"]
    root = v2_tree(tmp_path / "v2")
    (root / "cgroup.controllers").write_text("cpu io\n")
    assert _cgroups.missing_controllers(root) == ["memory", "pids"]


def test_hidden_folders_are_covered_once_outermost_first(tmp_path):
    (tmp_path / "a/b/c").mkdir(parents=True)
    (tmp_path / "d").mkdir()
    found = _view._outermost([tmp_path / "a/b/c", tmp_path / "a", tmp_path / "d", tmp_path / "gone", Path("/")])
    assert found == [tmp_path / "a", tmp_path / "d"]


def test_a_sandboxs_view_of_the_machine_is_an_allow_list(tmp_path):
    """Its root is made fresh and holds only what it is given: never the checkout the course came
    from (its notebooks hold the solutions), never a home folder, never the machine's /run/lock."""
    from labkit.engines.fetched import FetchedEngine

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "out").mkdir()
    spec = sandbox.Spec(
        name="labkit-sb-1-0",
        limits=sandbox.Limits(),
        engine=FetchedEngine("28.5.2"),
        mirror_data=tmp_path,
        expose=(repo / "labkit", Path("/usr/lib/python3")),
        hide=(tmp_path / "out", Path("/etc")),
        kept=tmp_path / "kept",
    )
    sb = sandbox.Sandbox(spec, sandbox.BASE / spec.name, 1000, 1000, None)
    script = sandbox.view_script(sb)
    view = f"{sb.root}/view"
    binds = [line.split()[-1] for line in script.splitlines() if line.startswith(("mount --bind", "mount --rbind"))]
    shown = {b.removeprefix(view) for b in binds}
    assert f"{repo}/labkit" in shown and str(repo) not in shown  # labkit's package only: no notebooks, no .git
    assert "/usr" in shown and "/etc" in shown and "/usr/lib/python3" not in shown  # inside /usr already
    assert str(sb.root) in shown and str(sb.kept) in shown
    assert not [b for b in shown if b.startswith(("/home", "/root", "/var/lib/labkit/hub", "/opt", "/srv", "/mnt"))]
    assert f"mount -t tmpfs -o size=1m,mode=0755,nosuid,nodev labkit-sb-run {view}/run" in script
    assert f"mkdir -m 1777 {view}/run/lock" in script
    assert "pivot_root . .old" in script and script.index("pivot_root") > script.index("/run/lock")
    lines = script.splitlines()
    checkout = next(
        i for i, line in enumerate(lines) if line.startswith("mount") and line.endswith(f"{view}{repo}/labkit")
    )
    own_tmp = next(i for i, line in enumerate(lines) if line.endswith(f"{view}/tmp") and line.startswith("mount"))
    assert own_tmp < checkout  # a checkout under /tmp (a CI's clone) is not covered by the sandbox's own /tmp
    after = script.split("pivot_root")[1]
    assert f"{tmp_path / 'out'}" in after  # covered where it would show
    assert "/etc" not in after  # the system is never covered, whatever a link in a submissions folder named


def test_what_a_machine_lacks_is_listed_with_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("PATH", str(tmp_path))  # none of the programs
    monkeypatch.setattr(_engine, "sbin_path", lambda: str(tmp_path))
    lacks = dict(sandbox.missing(FetchedEngine("28.5.2", tmp_path / "nothing")))
    assert "root" in lacks and "sudo" in lacks["root"]
    programs = next(how for what, how in lacks.items() if what.startswith("programs"))
    assert programs.startswith("apt-get install") and all(
        p in programs for p in ("uidmap", "rootlesskit", "slirp4netns")
    )


@pytest.mark.parametrize(
    "text, size",
    [("2g", 2 * 2**30), ("512m", 512 * 2**20), ("4GiB", 4 * 2**30), ("1.5G", 3 * 2**29), (str(2**30), 2**30)],
)
def test_limit_sizes_are_read_as_people_write_them(text, size):
    assert cli._size(text) == size


@pytest.mark.parametrize("text, said", [("lots", "is not a size"), ("10m", "at least 64m")])
def test_a_size_that_cannot_be_used_says_how_to_write_one(text, said):
    with pytest.raises(argparse.ArgumentTypeError, match=said):
        cli._size(text)


def test_a_sandbox_on_tmpfs_keeps_its_images_unlayered():
    """A rootless engine's overlay on tmpfs breaks dpkg in builds (moby/moby#44372): native or vfs there."""
    assert _engine.storage_args("containerd", True, on_tmpfs=False) == ["--feature=containerd-snapshotter=true"]
    assert _engine.storage_args("containerd", True, on_tmpfs=True)[-1] == "--storage-driver=native"
    assert _engine.storage_args("classic", True, on_tmpfs=True) == [
        "--feature=containerd-snapshotter=false",
        "--storage-driver=vfs",
    ]
    assert _engine.storage_args("classic", False, on_tmpfs=False) == []
