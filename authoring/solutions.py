"""The course's solutions: for each exercise, the shell commands that do it and, for an exercise
answered in words, the right `answer=`.

They live here, with the course's authoring code, and not in labkit: an installed labkit (what a
learner's kernel or a graded one imports) carries the checks and the hints, no solutions
(tests/unit/test_packaging.py builds the wheel and looks). The tests and the benchmarks run these
commands on a real lab, after the exercise's `setup`, filled in with the lab's own values
({registry}, {user}, {workspace}, {password_file}: labkit.course.exercises.fill); the notebooks'
answer cells are these answers (authoring/cells.py). The notebooks' own solution cells, in notebook
form, are in authoring/lessons.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit.course.catalog.digests import GREETING, pushed_as
from labkit.course.catalog.layers import START_SH


@dataclass(frozen=True)
class Solution:
    commands: tuple[str, ...]  # shell commands, run after the exercise's setup
    answer: Any = None  # the right `answer=`, for an exercise answered in words


def _start_sh(app: str, version: str) -> str:
    """The command that writes `app`'s start.sh, printing `version` (the layers lesson's setup writes v1)."""
    return START_SH.format(name=app, version=version, workspace="{workspace}")


# Dockerfiles as printf writes them (\n for a new line, \" for a quote inside the single-quoted text).
LAYERED_DOCKERFILE = (
    "FROM debian:bookworm-slim\\nRUN apt-get update\\nRUN apt-get install -y curl\\n"
    'COPY ./app /app\\nCMD [\\"/app/start.sh\\"]\\n'
)
ORDERED_DOCKERFILE = (
    "FROM debian:bookworm-slim\\nRUN apt-get update && apt-get install -y curl\\n"
    'COPY ./app /app\\nCMD [\\"/app/start.sh\\"]\\n'
)
SITE_DOCKERFILE = (
    'FROM nginx\\nLABEL org.opencontainers.image.authors=\\"learner\\"\\n'
    "COPY index.html /usr/share/nginx/html/index.html\\n"
)
LOGIN = "docker login {registry} -u {user} --password-stdin < {password_file}"
#: Lesson 10's two stages: the tools in the builder, the page alone in the image shipped.
MULTI_STAGE_DOCKERFILE = (
    "FROM debian:bookworm-slim AS build\\n"
    "RUN apt-get update && apt-get install -y --no-install-recommends markdown\\n"
    "WORKDIR /src\\nCOPY . .\\nRUN markdown index.md > index.html\\n\\n"
    "FROM nginx\\nCOPY --from=build /src/index.html /usr/share/nginx/html/index.html\\n"
)
#: Lesson 11's index of two platforms: one build with the containerd image store; with the classic one
#: (one platform per name), each platform pushed on its own, then joined in the registry.
PUSH_EVERYWHERE = (
    "REPO={registry}/{user}/everywhere; "
    "if docker info --format '{{json .DriverStatus}}' | grep -q containerd.snapshotter; then "
    "docker buildx build -q --platform linux/amd64,linux/arm64 -t $REPO:v1 --push {workspace}/everywhere; "
    "else for arch in amd64 arm64; do "
    "docker buildx build -q --platform linux/$arch -t $REPO:$arch --push {workspace}/everywhere || exit 1; done; "
    "docker buildx imagetools create -t $REPO:v1 $REPO:amd64 $REPO:arm64; fi"
)


SOLUTIONS: dict[str, Solution] = {
    # 00-start-here
    "start.pull": Solution(("docker pull busybox",)),
    # 01-what-is-an-image
    "image.rootfs": Solution(
        (
            "docker rm -f rootfs-box >/dev/null 2>&1 || true",
            "docker create --name rootfs-box busybox",
            "docker export -o {workspace}/busybox.tar rootfs-box",
            "docker rm rootfs-box",
        )
    ),
    "image.immutable": Solution(
        (
            "docker rm -f scratchpad fresh >/dev/null 2>&1 || true",
            "docker run --name scratchpad busybox rm /bin/vi",
            "docker run --name fresh busybox ls -l /bin/vi",
        )
    ),
    # 02-image-vs-container
    "container.two-from-one": Solution(
        (
            "docker rm -f web1 web2 >/dev/null 2>&1 || true",
            "docker run -d --name web1 nginx",
            "docker run -d --name web2 nginx",
        )
    ),
    "container.rw-layer": Solution(("docker exec web1 sh -c 'echo hello from web1 > /hello.txt'",)),
    "container.ephemeral": Solution(("docker rm -f web1 web2",)),
    # 03-inspecting-images
    "inspect.pull": Solution(("docker pull nginx",)),
    "inspect.read": Solution(
        ("docker inspect --format '{{json .Config.Cmd}} {{json .Config.ExposedPorts}}' nginx",),
        answer={"cmd": ["nginx", "-g", "daemon off;"], "port": 80},
    ),
    "inspect.tag": Solution(("docker tag nginx myrepo/nginx:v1",)),
    "inspect.rmi": Solution(("docker rmi myrepo/nginx:old",)),
    # 04-layers
    "layers.build": Solution(
        (
            f"printf '{LAYERED_DOCKERFILE}' > {{workspace}}/layered-app/Dockerfile",
            "docker build -t layered-app:v1 {workspace}/layered-app",
        )
    ),
    "layers.cache": Solution(
        (
            _start_sh("layered-app", "v2"),
            "docker build -t layered-app:v2 {workspace}/layered-app",
        )
    ),
    "layers.order": Solution(
        (
            f"printf '{ORDERED_DOCKERFILE}' > {{workspace}}/ordered-app/Dockerfile",
            _start_sh("ordered-app", "v1"),
            "docker build -t ordered-app:v1 {workspace}/ordered-app",
            _start_sh("ordered-app", "v2"),
            "docker build -t ordered-app:v2 {workspace}/ordered-app",
        )
    ),
    # 05-commit
    "commit.custom": Solution(
        (
            "docker rm -f custom-box >/dev/null 2>&1 || true",
            "docker run --name custom-box debian:bookworm-slim sh -c 'echo \"Welcome to my custom image\" > /etc/motd'",
            "docker commit custom-box my-custom-image",
        )
    ),
    "commit.why-not": Solution(("docker history my-custom-image",), answer="b"),
    # 06-try-it
    "tryit.install": Solution(
        (
            "docker rm -f tryit-box >/dev/null 2>&1 || true",
            "docker run --name tryit-box debian:bookworm-slim sh -c 'apt-get update && apt-get install -y curl'",
            "docker ps -a",
        )
    ),
    "tryit.commit": Solution(("docker commit tryit-box debian-with-curl",)),
    "tryit.run": Solution(("docker run --rm debian-with-curl curl --version",)),
    # 07-push
    "push.login": Solution((LOGIN,)),
    "push.tag-push": Solution(
        ("docker tag myapp {registry}/{user}/myapp:v1", "docker push {registry}/{user}/myapp:v1")
    ),
    "push.pull-back": Solution(("docker rmi {registry}/{user}/myapp:v1", "docker pull {registry}/{user}/myapp:v1")),
    # 08-capstone
    "capstone.site": Solution(
        (
            f"printf '{SITE_DOCKERFILE}' > {{workspace}}/mysite/Dockerfile",
            "docker build -t mysite:v1 -t mysite:latest {workspace}/mysite",
            "docker tag mysite:v1 {registry}/{user}/mysite:v1",
            LOGIN,
            "docker push {registry}/{user}/mysite:v1",
        )
    ),
    # 09-digests
    "digests.same-content": Solution(
        (
            f"docker tag greeting:v1 {GREETING}:v1",
            f"docker tag greeting:v1 {GREETING}:stable",
            f"docker push {GREETING}:v1",
            f"docker push {GREETING}:stable",
        )
    ),
    "digests.pull-by-digest": Solution(
        (
            "echo 'Hello from greeting v2' > {workspace}/greeting/message.txt",
            "docker build -q -t greeting:v2 {workspace}/greeting",
            f"docker tag greeting:v2 {GREETING}:stable",
            f"docker push {GREETING}:stable",
            f"docker rmi greeting:v1 {GREETING}:v1",
            'docker pull "$(cat {workspace}/greeting/v1.digest)"',
        )
    ),
    "digests.pinned-from": Solution(
        (
            f"PINNED=$({pushed_as(GREETING + ':stable')}) "
            '&& sed "s|^FROM .*|FROM $PINNED|" {workspace}/greeting-app/Dockerfile '
            "> {workspace}/greeting-app/Dockerfile.new "
            "&& mv {workspace}/greeting-app/Dockerfile.new {workspace}/greeting-app/Dockerfile",
            "docker build -t greeting-app:v1 {workspace}/greeting-app",
            "echo 'Hello from greeting v3' > {workspace}/greeting/message.txt",
            "docker build -q -t greeting:v3 {workspace}/greeting",
            f"docker tag greeting:v3 {GREETING}:stable",
            f"docker push {GREETING}:stable",
            "docker build -t greeting-app:v2 {workspace}/greeting-app",
        )
    ),
    # 10-multi-stage
    "multistage.ship-artifact": Solution(
        (
            f"printf '{MULTI_STAGE_DOCKERFILE}' > {{workspace}}/site/Dockerfile",
            "docker build -q -t site:multi {workspace}/site",
        )
    ),
    "multistage.dockerignore": Solution(
        (
            "printf '.env\\nDockerfile*\\n' > {workspace}/site/.dockerignore",
            "docker build -q --target build -t site:build {workspace}/site",
            "docker build -q -t site:multi {workspace}/site",
        )
    ),
    # 11-image-on-disk
    "disk.saved": Solution(
        (
            "docker save -o {workspace}/postcard.tar postcard:v1",
            "mkdir -p {workspace}/postcard-saved && tar -xf {workspace}/postcard.tar -C {workspace}/postcard-saved",
        )
    ),
    "disk.load": Solution(("docker rmi postcard:v1", "docker load -i {workspace}/postcard.tar")),
    "disk.multi-platform": Solution((PUSH_EVERYWHERE,)),
}
