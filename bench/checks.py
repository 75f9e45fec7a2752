"""Benchmark: each check primitive through `lab.check`, against the shell-lab way and raw SDK calls.

    make bench-checks        (or: .venv/bin/python bench/checks.py)

A lab of its own is started in a temporary home (base images from the build cache), the
whole course is done with its solution commands, and then, for one exercise per check
primitive, three things are timed (median of several runs, one process):

- labkit:  `lab.check(ID)` as a notebook calls it (check, score, record progress);
- shell:   the `docker` CLI (and curl/tar) commands a shell-based lab would run to verify
           the same state, as subprocesses;
- check:   the exercise's check alone (what labkit does on top of raw: the same reads and the
           verdict in words), without recording progress;
- raw:     the fewest docker-py/HTTP calls that read the same state, with no labkit around them.

Targets: labkit at most 0.3x shell for every primitive; check's overhead over raw at most 20%.
Where the engine's own work dominates (a container diff, reading files out of images,
starting a container) even raw is near the shell time, so no check can be 0.3x of it:
the table says so rather than hiding it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import docker  # noqa: E402
import requests  # noqa: E402
from benchlab import bench_lab  # noqa: E402

TARGET_SHELL, TARGET_OVERHEAD = 0.3, 0.20


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def shell(commands: list[str], env: dict) -> callable:
    def run() -> None:
        for command in commands:
            subprocess.run(command, shell=True, env=env, capture_output=True, check=False)

    return run


def cases(reg: str, user: str, password: str, ws: Path) -> list[tuple]:
    """(primitive, exercise, answer, shell commands, raw calls(client, session))."""
    auth = f"{user}:{password}"
    head = f"curl -s -o /dev/null -I -u {auth} -H 'Accept: application/vnd.docker.distribution.manifest.v2+json'"
    inspect = "docker image inspect -f '{{.Id}} {{json .RootFS.Layers}}'"
    return [
        ("images.present", "start.pull", None, [f"{inspect} busybox"], lambda c, s: c.api.inspect_image("busybox")),
        (
            "images.same_image",
            "inspect.tag",
            None,
            [f"{inspect} myrepo/nginx:v1", f"{inspect} nginx"],
            lambda c, s: [c.api.inspect_image(r) for r in ("myrepo/nginx:v1", "nginx")],
        ),
        (
            "images.config_field",
            "inspect.read",
            {"cmd": ["nginx", "-g", "daemon off;"], "port": 80},
            ["docker image inspect -f '{{json .Config.Cmd}} {{json .Config.ExposedPorts}}' nginx"],
            lambda c, s: c.api.inspect_image("nginx"),
        ),
        (
            "images.built_on + diverge_at",
            "layers.cache",
            None,
            [f"{inspect} {r}" for r in ("layered-app:v2", "debian:bookworm-slim", "layered-app:v1")],
            lambda c, s: [c.api.inspect_image(r) for r in ("layered-app:v2", "debian:bookworm-slim", "layered-app:v1")],
        ),
        (
            "images.history_in_order",
            "layers.order",
            None,
            ["docker history --no-trunc --format '{{.CreatedBy}}' ordered-app:v2"]
            + [f"{inspect} {r}" for r in ("ordered-app:v2", "debian:bookworm-slim", "ordered-app:v1")],
            lambda c, s: (
                [c.api.history("ordered-app:v2")]
                + [c.api.inspect_image(r) for r in ("ordered-app:v2", "debian:bookworm-slim", "ordered-app:v1")]
            ),
        ),
        (
            "images.committed_from",
            "commit.custom",
            None,
            [
                "docker container inspect custom-box",
                f"{inspect} my-custom-image",
                f"{inspect} debian:bookworm-slim",
                "docker diff custom-box",
                (
                    "id=$(docker create my-custom-image true); docker cp custom-box:/etc/motd - >/dev/null; "
                    "docker cp $id:/etc/motd - >/dev/null; docker rm $id"
                ),
            ],
            lambda c, s: _raw_commit(c),
        ),
        (
            "containers.running + from_image",
            "container.two-from-one",
            None,
            [f"{inspect} nginx", "docker container inspect web1", "docker container inspect web2"],
            lambda c, s: [
                c.api.inspect_image("nginx"),
                c.api.inspect_container("web1"),
                c.api.inspect_container("web2"),
            ],
        ),
        (
            "containers.diff_has / diff_lacks",
            "container.rw-layer",
            None,
            ["docker diff web1", "docker container inspect web2", "docker diff web2"],
            lambda c, s: [c.api.diff("web1"), c.api.inspect_container("web2"), c.api.diff("web2")],
        ),
        (
            "registry.logged_in",
            "push.login",
            None,
            [f"cat $DOCKER_CONFIG/config.json >/dev/null; curl -s -o /dev/null -u {auth} http://{reg}/v2/"],
            lambda c, s: s.get(f"http://{reg}/v2/", auth=(user, password)),
        ),
        (
            "registry.pushed",
            "push.tag-push",
            None,
            [
                f"{inspect} {reg}/{user}/myapp:v1",
                f"{inspect} myapp",
                f"docker image inspect -f '{{{{json .RepoDigests}}}}' {reg}/{user}/myapp:v1",
                f"{head} http://{reg}/v2/{user}/myapp/manifests/v1",
            ],
            lambda c, s: [
                c.api.inspect_image(f"{reg}/{user}/myapp:v1"),
                c.api.inspect_image("myapp"),
                s.head(
                    f"http://{reg}/v2/{user}/myapp/manifests/v1",
                    auth=(user, password),
                    headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
                ),
            ],
        ),
        (
            "files.tar_holds",
            "image.rootfs",
            None,
            [f"tar -tf {ws}/busybox.tar | grep -qx bin/busybox"],
            lambda c, s: "bin/busybox" in tarfile.open(ws / "busybox.tar").getnames(),
        ),
        (
            "http.serves (capstone criteria)",
            "capstone.site",
            None,
            [f"{inspect} {r}" for r in ("mysite:v1", "nginx", "mysite:latest", f"{reg}/{user}/mysite:v1")]
            + [
                f"{head} http://{reg}/v2/{user}/mysite/manifests/v1",
                "id=$(docker run -d -p 127.0.0.1::80 mysite:v1); p=$(docker port $id 80 | head -1 | cut -d: -f2); "
                "until curl -sf localhost:$p >/dev/null; do sleep 0.05; done; docker rm -f $id",
            ],
            None,
        ),
    ]


def _raw_commit(client) -> None:
    box = client.api.inspect_container("custom-box")
    client.api.inspect_image("my-custom-image")
    client.api.inspect_image(box["Image"])
    client.api.diff("custom-box")
    probe = client.api.create_container("my-custom-image", command=["true"])
    try:
        b"".join(client.api.get_archive("custom-box", "/etc/motd")[0])
        b"".join(client.api.get_archive(probe["Id"], "/etc/motd")[0])
    finally:
        client.api.remove_container(probe["Id"], force=True)


def main() -> int:
    with bench_lab("labkit-bench-checks-") as (work, env):
        env["LABKIT_WORKSPACE"] = str(work / "ws")
        (work / "ws").mkdir()
        os.environ.update(env)
        from authoring.solutions import SOLUTIONS
        from labkit.course import catalog
        from labkit.course.exercises import fill
        from labkit.ui import Lab

        lab = Lab()
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"] = lab._context().state.engine.host
        ctx = lab._context()
        again = [catalog.get("container.two-from-one"), catalog.get("container.rw-layer")]  # undone by ephemeral
        for exercise in list(catalog.EXERCISES) + again:
            for command in exercise.setup + SOLUTIONS[exercise.id].commands:
                subprocess.run(["bash", "-c", fill(command, ctx)], env=env, check=True, capture_output=True)
        client = docker.DockerClient(base_url=env["DOCKER_HOST"], version="auto")
        session = requests.Session()
        session.trust_env = False
        rows, ok = [], True
        for primitive, exercise, answer, commands, raw in cases(
            ctx.registry_address, ctx.user, ctx.password, ctx.workspace
        ):
            result = lab.check(exercise, answer)
            assert result.passed, f"{exercise} should pass in the bench's lab:\n{result}"
            runs = 5 if exercise == "capstone.site" else 15
            t_lab = median_time(lambda: lab.check(exercise, answer), runs)
            t_shell = median_time(shell(commands, env), max(3, runs // 3))
            t_raw = median_time(lambda: raw(client, session), runs) if raw else None
            spec = catalog.get(exercise)

            def check_only() -> None:
                with ctx.engine.consistent():
                    spec.check(ctx, answer)

            t_check = median_time(check_only, runs)
            shell_ok = t_lab / t_shell <= TARGET_SHELL
            over = (t_check / t_raw - 1) if t_raw else None
            over_ok = over is None or over <= TARGET_OVERHEAD
            ok &= shell_ok and over_ok
            rows.append((primitive, exercise, t_lab, t_shell, t_check, t_raw, shell_ok, over, over_ok))
    print(
        f"{'primitive':34} {'exercise':24} {'lab.check':>10} {'shell':>9} {'ratio':>6}  {'check':>9} "
        f"{'raw sdk':>9} {'overhead':>9}"
    )
    for primitive, exercise, t_lab, t_shell, t_check, t_raw, shell_ok, over, over_ok in rows:
        raw_text = f"{t_raw * 1000:7.1f}ms" if t_raw else "        -"
        over_text = f"{over * 100:+7.0f}%" if over is not None else "        -"
        floor = f"  (raw alone is {t_raw / t_shell:.2f}x shell)" if t_raw and not shell_ok else ""
        print(
            f"{primitive:34} {exercise:24} {t_lab * 1000:8.1f}ms {t_shell * 1000:7.1f}ms "
            f"{t_lab / t_shell:5.2f}x{'' if shell_ok else '!'} "
            f"{t_check * 1000:7.1f}ms {raw_text} {over_text}{'' if over_ok else '!'}{floor}"
        )
    print(
        f"targets: lab.check <= {TARGET_SHELL}x shell; check over raw SDK <= {TARGET_OVERHEAD:.0%} ('!' marks a miss)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
