"""The course, notebook by notebook. Each is a title and a list of cells (see authoring/cells.py)."""

from __future__ import annotations

from authoring.cells import code, exercise, md, ready, recap

START = [
    md("""
# 00 · Start here

Welcome to **Docker Images Lab**. You will learn what a Docker image is by typing real
`docker` commands, and after each exercise a **check cell** looks at your Docker engine
and tells you whether you did it, and if not, what is missing.

Run each cell with **Shift+Enter**, top to bottom. The first cell checks that the lab is up.
"""),
    ready(),
    md("""
## How a lesson works

Cells that start with `!` run a shell command, so `!docker images` runs `docker images`.
Cells that start with `%%bash` are a small shell script. Your commands reach the lab's own
Docker engine, so nothing you do here touches anything else on your machine.

This course uses three small base images that the lab keeps for you, even without internet:
`busybox` (a tiny Unix toolbox), `debian:bookworm-slim` (a small Debian) and `nginx` (a web
server). Where the course text uses `alpine` and `apk add`, we use `debian:bookworm-slim` and
`apt-get install`: the ideas are the same.

Let's see which images your engine has right now:
"""),
    code("!docker images"),
    md("""
Probably none yet. Images come from a **registry** (Docker Hub is the best known one);
`docker pull NAME` downloads one into your engine.
"""),
    *exercise(
        "start.pull",
        "!docker pull busybox",
        before="Write the command in the cell below, run it, then run the check cell after it.",
    ),
    md("""
The check cell shows **PASSED** or **NOT YET** with what it saw. When you are stuck, the
**Show next hint** button (or `lab.hint("start.pull")`) gives one hint at a time.
`lab.progress()` shows how far you are in the whole course:
"""),
    code("lab.progress()"),
    code("!docker images busybox"),
    md("""
There it is: a name (`busybox`), a tag (`latest`), an **IMAGE ID**, and a size. The next
notebook looks at what is inside. (With the containerd image store, as here and in Docker
Desktop, the IMAGE ID is the digest of the image's manifest, and `docker images` may list a
second size, the content it downloaded; the classic store's ID is its configuration's digest.)

In a terminal (File → New → Terminal), `docker` reaches the same engine:
`eval "$(labkit env)"` sets it up, if the terminal does not already.
"""),
    recap([("List images", "docker images"), ("Pull an image", "docker pull busybox")]),
]

IMAGE = [
    md("""
# 01 · What is an image?

An image is a **snapshot of a filesystem**: every file a program needs, frozen. It is
**read-only**: nothing you do in a container ever changes it. You get one with `docker pull`
(or build one with a Dockerfile, in notebook 04).
"""),
    ready(),
    code("!docker pull -q busybox"),
    md("""
## Look inside

A container made from the image sees that filesystem as its own `/`:
"""),
    code("!docker run --rm busybox ls /"),
    md("""
Those folders come from the image. To hold the filesystem in your hands, write it to a
plain tar file: `docker create` makes a container without starting it, and `docker export`
writes that container's filesystem out.
"""),
    *exercise(
        "image.rootfs",
        "%%bash\ndocker rm -f rootfs-box >/dev/null 2>&1\ndocker create --name rootfs-box busybox\n"
        "docker export -o busybox.tar rootfs-box\ndocker rm rootfs-box",
    ),
    code("%%bash\ntar -tf busybox.tar | head -n 15\nls -lh busybox.tar"),
    md("""
A whole operating-system userland in about 2 MB: `bin/busybox` and a link to it for every
command. That is all an image is: files, plus a little configuration (which command to run).

## An image never changes

Now change the filesystem inside a container, and see whether the image notices.
"""),
    *exercise(
        "image.immutable",
        "%%bash\ndocker rm -f scratchpad fresh >/dev/null 2>&1\n"
        "docker run --name scratchpad busybox rm /bin/vi\n"
        "docker run --name fresh busybox ls -l /bin/vi",
    ),
    code("!docker diff scratchpad"),
    md("""
`docker diff` lists what changed in a container: `D` deleted, `A` added, `C` changed.
`scratchpad` lost `/bin/vi`, yet `fresh`, made from the same image afterwards, still has it.
The change lives in the container, never in the image.
"""),
    recap(
        [
            ("Make a container without starting it", "docker create --name NAME IMAGE"),
            ("Write a container's filesystem to a tar", "docker export -o FILE CONTAINER"),
            ("See what changed in a container", "docker diff CONTAINER"),
        ]
    ),
]

CONTAINER = [
    md("""
# 02 · Image vs container

| Image | Container |
|---|---|
| a template (a blueprint) | a running instance of an image |
| read-only | read-write |
| versioned with tags | comes and goes (can be removed) |
| shared by many containers | isolated from the others |

One image, many containers: each container gets a thin **read-write layer** of its own on
top of the image's read-only layers.
"""),
    ready(),
    code("!docker pull -q nginx"),
    *exercise(
        "container.two-from-one",
        (
            "%%bash\n"
            "docker rm -f web1 web2 >/dev/null 2>&1\n"
            "docker run -d --name web1 nginx\n"
            "docker run -d --name web2 nginx"
        ),
    ),
    code("!docker ps"),
    md(
        "Both containers run from the very same image. Here is your `web1`, drawn from your engine: the image's "
        "read-only layers, and the container's own layer on top."
    ),
    code('lab.show_layers("nginx", container="web1")'),
    *exercise("container.rw-layer", "!docker exec web1 sh -c 'echo hello from web1 > /hello.txt'"),
    code("%%bash\necho web1:; docker diff web1\necho web2:; docker diff web2"),
    md("""
`/hello.txt` is in `web1`'s diff only. (Both containers also show the few files nginx
writes when it starts, each in its own layer.)

## Containers are ephemeral

Remove a container and its read-write layer goes with it; the image stays.
"""),
    *exercise("container.ephemeral", "!docker rm -f web1 web2"),
    code("%%bash\ndocker ps -a\ndocker images nginx"),
    recap(
        [
            ("Run a container in the background", "docker run -d --name NAME IMAGE"),
            ("Run a command in a running container", "docker exec CONTAINER COMMAND"),
            ("List running containers (all with -a)", "docker ps -a"),
            ("Remove containers", "docker rm -f NAME..."),
        ]
    ),
]

INSPECT = [
    md("""
# 03 · Inspecting images

The everyday commands: `docker images`, `docker pull`, `docker inspect`, `docker tag`,
`docker rmi`.
"""),
    ready(),
    code("!docker images"),
    *exercise("inspect.pull", "!docker pull nginx"),
    md("""
## What is in an image's configuration?

`docker inspect` prints everything the engine knows about an image, as JSON: its id, its
layers (`RootFS.Layers`), and its **config**: the command it runs (`Cmd`), the ports it
expects (`ExposedPorts`), environment variables, labels…
"""),
    code("!docker inspect nginx | head -n 60"),
    code("%%bash\ndocker inspect --format '{{json .Config.Cmd}}  {{json .Config.ExposedPorts}}' nginx"),
    *exercise(
        "inspect.read", answer="answer", before='Put them into `answer`, like `answer = {"cmd": [...], "port": ...}`.'
    ),
    md("""
## Names are just labels

`docker tag SOURCE TARGET` gives an image another name. Nothing is copied: both names
point to one image id.
"""),
    *exercise("inspect.tag", "!docker tag nginx myrepo/nginx:v1"),
    code("!docker images | grep -E 'nginx|REPOSITORY'"),
    md("The next cell gives nginx one more name, `myrepo/nginx:old`, for you to remove."),
    *exercise("inspect.rmi", "!docker rmi myrepo/nginx:old", setup="!docker tag nginx myrepo/nginx:old"),
    md("""
`docker rmi` printed **Untagged**: it removed a *name*. An image is deleted only when its
last name goes (and no container uses it). Try `docker rmi nginx` in your head: nginx would
stay, because `myrepo/nginx:v1` still names it.
"""),
    recap(
        [
            ("List images", "docker images"),
            ("Pull an image", "docker pull nginx"),
            ("Inspect an image", "docker inspect nginx"),
            ("Tag an image", "docker tag nginx myrepo/nginx:v1"),
            ("Remove an image (name)", "docker rmi myrepo/nginx:old"),
        ]
    ),
]

LAYERS = [
    md("""
# 04 · How Docker builds images: layers

A **Dockerfile** lists the steps to build an image. Each `RUN`, `COPY` or `ADD` step adds a
**layer**: the files that step changed. An image is its layers stacked up; layers are
shared between images that start the same way, and Docker **caches** them: a step whose
input did not change is not run again.
"""),
    ready(),
    code("!docker pull -q debian:bookworm-slim"),
    md("The app to package: one script, `layered-app/app/start.sh`."),
    code(
        "%%bash\n"
        "mkdir -p layered-app/app\n"
        "printf '#!/bin/sh\\necho \"Hello from layered-app v1\"\\n' > layered-app/app/start.sh\n"
        "chmod +x layered-app/app/start.sh\ncat layered-app/app/start.sh"
    ),
    *exercise(
        "layers.build",
        (
            "%%writefile layered-app/Dockerfile\n"
            "FROM debian:bookworm-slim\n"
            "RUN apt-get update\n"
            "RUN apt-get install -y curl\n"
            "COPY ./app /app\n"
            'CMD ["/app/start.sh"]'
        ),
        "!docker build -t layered-app:v1 layered-app",
        before="(The course text writes `FROM ubuntu:22.04`; here it is `debian:bookworm-slim`.)",
    ),
    code("!docker history layered-app:v1"),
    md("""
Read `docker history` bottom-up: the base image, then one line per instruction. `RUN` and
`COPY` lines have a size (a layer); `CMD` has 0 B (configuration only). With BuildKit (every
`docker build` since Engine 23) the IMAGE column says `<missing>` for every line but the top:
the steps' intermediate results are not kept as images of their own, only their layers are.

## The build cache

Change only the app, and build again. Watch for `CACHED` on the steps that did not change.
(Older engines' legacy builder printed `Step 2/5 : …` and `---> Using cache` instead.)
"""),
    *exercise(
        "layers.cache",
        "%%bash\nprintf '#!/bin/sh\\necho \"Hello from layered-app v2\"\\n' > layered-app/app/start.sh\n"
        "docker build -t layered-app:v2 layered-app",
    ),
    code('lab.show_layers("layered-app:v1", "layered-app:v2")'),
    md("""
`v2` reuses the base and both `RUN` layers of `v1`: only the `COPY` layer (and what comes
after it) is new. That is why a rebuild after a code change takes a second, not a minute.

## Order matters

If the app is copied *before* the packages are installed, every code change invalidates
the install step too. `ordered-app/Dockerfile` is written that way:
"""),
    code(
        "%%bash\n"
        "mkdir -p ordered-app/app\n"
        "printf '#!/bin/sh\\necho \"Hello from ordered-app v1\"\\n' > ordered-app/app/start.sh\n"
        "chmod +x ordered-app/app/start.sh\n"
        "[ -f ordered-app/Dockerfile ] || printf 'FROM debian:bookworm-slim\\nCOPY ./app /app\\n"
        'RUN apt-get update && apt-get install -y curl\\nCMD ["/app/start.sh"]\\n\' > ordered-app/Dockerfile\n'
        "cat ordered-app/Dockerfile"
    ),
    *exercise(
        "layers.order",
        (
            "%%writefile ordered-app/Dockerfile\n"
            "FROM debian:bookworm-slim\n"
            "RUN apt-get update && apt-get install -y curl\n"
            "COPY ./app /app\n"
            'CMD ["/app/start.sh"]'
        ),
        "%%bash\nprintf '#!/bin/sh\\necho \"Hello from ordered-app v1\"\\n' > ordered-app/app/start.sh\n"
        "docker build -q -t ordered-app:v1 ordered-app\n"
        "printf '#!/bin/sh\\necho \"Hello from ordered-app v2\"\\n' > ordered-app/app/start.sh\n"
        "docker build -t ordered-app:v2 ordered-app",
    ),
    recap(
        [
            ("Build an image from a folder's Dockerfile", "docker build -t NAME:TAG FOLDER"),
            ("See an image's layers and the steps that made them", "docker history IMAGE"),
        ]
    ),
]

COMMIT = [
    md("""
# 05 · Creating an image from a container (quick and dirty)

You can turn a container's changes into a new image with `docker commit`. It is handy for
an experiment, and **not** best practice: nobody can see how the image was made.
"""),
    ready(),
    code("!docker pull -q debian:bookworm-slim"),
    *exercise(
        "commit.custom",
        "%%bash\ndocker rm -f custom-box >/dev/null 2>&1\n"
        "docker run --name custom-box debian:bookworm-slim sh -c 'echo \"Welcome to my custom image\" > /etc/motd'\n"
        "docker commit custom-box my-custom-image",
    ),
    code("!docker run --rm my-custom-image cat /etc/motd"),
    md("Your committed image, next to the image it came from: one new layer on top."),
    code('lab.show_layers("debian:bookworm-slim", "my-custom-image")'),
    code("!docker history my-custom-image"),
    *exercise("commit.why-not", answer="answer", before='Answer with one letter, like `answer = "a"`.'),
    md("""
A Dockerfile is a recipe anyone can read, review, and rebuild; a committed image is a
photograph of a moment. Use `docker commit` to save an experiment, then write the Dockerfile.
"""),
    recap(
        [
            ("Commit a container to an image", "docker commit CONTAINER NAME"),
            ("See how an image was made", "docker history IMAGE"),
        ]
    ),
]

TRYIT = [
    md("""
# 06 · Try it: explore and build images

The whole loop by hand: pull an image, run it, install a tool inside, find the container,
commit it, and run your new image.

In a terminal you would work **interactively**:

```bash
docker run -it debian:bookworm-slim bash     # a shell inside the container
apt-get update && apt-get install -y curl   # inside: install something
exit                                         # leave; the container stops
```

A notebook cell cannot type into a shell, so the cells below give the container its
commands up front. (The course text uses `alpine` and `apk add curl`; on Debian it is
`apt-get install -y curl`.)
"""),
    ready(),
    code("!docker pull -q debian:bookworm-slim"),
    *exercise(
        "tryit.install",
        "%%bash\ndocker rm -f tryit-box >/dev/null 2>&1\n"
        "docker run --name tryit-box debian:bookworm-slim sh -c 'apt-get update -q && apt-get install -y -q curl' "
        "| tail -n 3\n"
        "docker ps -a",
    ),
    *exercise(
        "tryit.commit",
        "!docker commit tryit-box debian-with-curl",
        before="(The container's name works as well as its ID.)",
    ),
    *exercise("tryit.run", "!docker run --rm debian-with-curl curl --version"),
    md("Interactively, in a terminal: `docker run -it debian-with-curl bash`, then `curl --version`."),
    recap(
        [
            ("Pull an image", "docker pull debian:bookworm-slim"),
            ("Run it interactively (terminal)", "docker run -it debian:bookworm-slim bash"),
            ("Find stopped containers", "docker ps -a"),
            ("Commit a container", "docker commit CONTAINER debian-with-curl"),
            ("Run your new image", "docker run --rm debian-with-curl curl --version"),
        ]
    ),
]

PUSH = [
    md("""
# 07 · Pushing to a registry

A **registry** stores images so others (and other machines) can pull them. Docker Hub is
the public one; AWS ECR, Azure ACR, Harbor and the registries of GitLab or GitHub work the
same way: `docker login`, `docker tag`, `docker push`. This lab has its own registry, with
an account for you.
"""),
    ready(),
    code('print("registry:", lab.registry, " user:", lab.user, " password file:", lab.password_file)'),
    *exercise(
        "push.login",
        '%%bash\ndocker login "$LABKIT_REGISTRY" -u "$LABKIT_USER" --password-stdin < "$LABKIT_PASSWORD_FILE"',
    ),
    md("""
## An image to push

The next cell builds a small image called `myapp`.
"""),
    code(
        "%%bash\nmkdir -p myapp\necho 'Hello from myapp' > myapp/hello.txt\n"
        'printf \'FROM busybox\\nCOPY hello.txt /hello.txt\\nCMD ["cat", "/hello.txt"]\\n\' > myapp/Dockerfile\n'
        "docker pull -q busybox >/dev/null\ndocker build -q -t myapp myapp"
    ),
    md("""
An image's name says where it lives: `REGISTRY/USER/NAME:TAG`. Without a registry part,
Docker assumes Docker Hub. So to push to the lab's registry, give `myapp` a name that starts
with it:
"""),
    *exercise(
        "push.tag-push",
        (
            "%%bash\n"
            'docker tag myapp "$LABKIT_REGISTRY/$LABKIT_USER/myapp:v1"\n'
            'docker push "$LABKIT_REGISTRY/$LABKIT_USER/myapp:v1"'
        ),
    ),
    *exercise(
        "push.pull-back",
        (
            "%%bash\n"
            'docker rmi "$LABKIT_REGISTRY/$LABKIT_USER/myapp:v1"\n'
            'docker pull "$LABKIT_REGISTRY/$LABKIT_USER/myapp:v1"'
        ),
    ),
    md("The digest `docker pull` printed is the one `docker push` printed: the same image, byte for byte."),
    recap(
        [
            ("Log in", "docker login REGISTRY -u USER"),
            ("Tag your image for a registry", "docker tag myapp REGISTRY/USER/myapp:v1"),
            ("Push", "docker push REGISTRY/USER/myapp:v1"),
            ("Pull it back", "docker pull REGISTRY/USER/myapp:v1"),
        ]
    ),
]

CAPSTONE = [
    md("""
# 08 · Capstone: ship your own site

Everything at once. Write a web page, package it on `nginx` with a Dockerfile, label it,
tag it `v1` and `latest`, push it to the lab's registry, and make sure it serves your page.
The check runs your image, asks it for `/`, and compares the answer with your
`mysite/index.html`. It is worth 10 points, with partial credit for each part.
"""),
    ready(),
    code(
        "%%bash\nmkdir -p mysite\n[ -f mysite/index.html ] || printf '<!DOCTYPE html>\\n<html><body><h1>My site</h1>"
        "<p>Built in the Docker Images Lab.</p></body></html>\\n' > mysite/index.html\n"
        "docker pull -q nginx >/dev/null\ncat mysite/index.html"
    ),
    md("Edit `mysite/index.html` in JupyterLab's file browser to make it yours, then do the task:"),
    *exercise(
        "capstone.site",
        (
            "%%writefile mysite/Dockerfile\n"
            "FROM nginx\n"
            'LABEL org.opencontainers.image.authors="learner"\n'
            "COPY index.html /usr/share/nginx/html/index.html"
        ),
        "!docker build -t mysite:v1 -t mysite:latest mysite",
        '%%bash\ndocker tag mysite:v1 "$LABKIT_REGISTRY/$LABKIT_USER/mysite:v1"\n'
        'docker login "$LABKIT_REGISTRY" -u "$LABKIT_USER" --password-stdin < "$LABKIT_PASSWORD_FILE"\n'
        'docker push "$LABKIT_REGISTRY/$LABKIT_USER/mysite:v1"',
    ),
    md(
        "To see it yourself: `docker run -d -p 8080:80 mysite:v1`, then open http://localhost:8080 (or "
        "`curl localhost:8080`)."
    ),
    code("lab.progress()"),
    recap(
        [
            ("Build with two tags", "docker build -t mysite:v1 -t mysite:latest mysite"),
            ("Tag for the registry", "docker tag mysite:v1 REGISTRY/USER/mysite:v1"),
            ("Push", "docker push REGISTRY/USER/mysite:v1"),
            ("Serve it", "docker run -d -p 8080:80 mysite:v1"),
        ]
    ),
]

DIGESTS = [
    md("""
# 09 · Tags move, digests do not

A **tag** (`stable`, `v1`, `latest`) is a name, and a name can be moved: `docker tag` and `docker push`
put it on another image whenever someone wants, so `nginx:latest` next month is not `nginx:latest`
today. A **digest** (`sha256:…`) is the hash of an image's **manifest**, the small JSON document that
lists its configuration and layers by their own hashes: it names exactly that content, for good.

This lesson pushes one image under two tags, moves a tag, pulls an old image back by its digest, and
pins a Dockerfile's `FROM` so that a rebuild keeps its base while the tag moves on. About 20 minutes.
"""),
    ready(),
    md("""
You push to the lab's registry, as in notebook 07: log in (again, if a reset logged you out), then
build the image of this lesson, `greeting:v1`.
"""),
    code(
        "%%bash\n"
        'docker login "$LABKIT_REGISTRY" -u "$LABKIT_USER" --password-stdin < "$LABKIT_PASSWORD_FILE"\n'
        "mkdir -p greeting\necho 'Hello from greeting v1' > greeting/message.txt\n"
        'printf \'FROM busybox\\nCOPY message.txt /message.txt\\nCMD ["cat", "/message.txt"]\\n\' '
        "> greeting/Dockerfile\n"
        "docker build -q -t greeting:v1 greeting"
    ),
    md("""
## One image, two tags, one manifest

`docker push` sends the image's layers and configuration, then its manifest. The registry files the
manifest under its digest, and a tag is only a pointer to a digest: push one image under two tags
and the registry holds one manifest with two names.
"""),
    *exercise(
        "digests.same-content",
        (
            "%%bash\n"
            'docker tag greeting:v1 "$LABKIT_REGISTRY/$LABKIT_USER/greeting:v1"\n'
            'docker tag greeting:v1 "$LABKIT_REGISTRY/$LABKIT_USER/greeting:stable"\n'
            'docker push "$LABKIT_REGISTRY/$LABKIT_USER/greeting:v1"\n'
            'docker push "$LABKIT_REGISTRY/$LABKIT_USER/greeting:stable"'
        ),
    ),
    md("""
Both pushes printed the same `digest: sha256:…`. Your engine keeps it too, in the image's
**RepoDigests**: `REPOSITORY@sha256:…`, the digest of the manifest this image is in that repository.
"""),
    code(
        "%%bash\n"
        "docker image inspect --format '{{json .RepoDigests}}' \"$LABKIT_REGISTRY/$LABKIT_USER/greeting:v1\"\n"
        'docker images --digests "$LABKIT_REGISTRY/$LABKIT_USER/greeting"'
    ),
    md("""
The **IMAGE ID** `docker images` shows is another thing, and what it is depends on the engine's
image store:

- With the **containerd image store** (this lab's engine, Docker Desktop, new installs of Engine 29)
  the image ID is the digest of the image's manifest (or index): after a push, the digest the registry
  gave. RepoDigests then names every repository that names the image, pushed or not (here also
  `greeting@sha256:…`): read the line of the registry you pushed to.
- With the **classic store** (older engines, such as Engine 20.10) the image ID is the digest of the
  image's configuration, which no registry uses to name it: RepoDigests lists only what was pushed or
  pulled.

So to name an image exactly, on any machine and any engine, use `REPOSITORY@sha256:…` (from
`docker push` or RepoDigests), never the image ID.

## Tags move

Now release a v2 and move `stable` to it, as a team does when it promotes a release. `v1` stays where
it is; and even without it, the old image can always be pulled by its digest.
"""),
    *exercise(
        "digests.pull-by-digest",
        (
            "%%bash\n"
            "echo 'Hello from greeting v2' > greeting/message.txt\n"
            "docker build -q -t greeting:v2 greeting\n"
            'docker tag greeting:v2 "$LABKIT_REGISTRY/$LABKIT_USER/greeting:stable"\n'
            'docker push "$LABKIT_REGISTRY/$LABKIT_USER/greeting:stable"'
        ),
        (
            "%%bash\n"
            'docker rmi greeting:v1 "$LABKIT_REGISTRY/$LABKIT_USER/greeting:v1"\n'
            'docker pull "$(cat greeting/v1.digest)"'
        ),
        before="The next cell notes v1's digest in `greeting/v1.digest`, before anything moves.",
        setup=(
            "%%bash\n"
            "docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "
            '"$LABKIT_REGISTRY/$LABKIT_USER/greeting:v1" \\\n'
            '  | grep "^$LABKIT_REGISTRY/$LABKIT_USER/greeting@" | head -n 1 > greeting/v1.digest\n'
            "cat greeting/v1.digest"
        ),
    ),
    code(
        "%%bash\n"
        'docker images --digests "$LABKIT_REGISTRY/$LABKIT_USER/greeting"\n'
        'docker run --rm "$(cat greeting/v1.digest)"\n'
        'docker run --rm "$LABKIT_REGISTRY/$LABKIT_USER/greeting:stable"'
    ),
    md("""
The old image is back with no tag (`<none>`), named by its digest alone, and it still says v1;
`stable` says v2. (The tracker at the top now shows the first exercise as *passed earlier*: `stable`
no longer names v1's manifest, because you moved it, as the lesson asked.)

Whoever deployed `stable` last week and noted its digest can get exactly that image
again, whatever the tag names today.

## Pin FROM by digest

A Dockerfile that starts `FROM greeting:stable` builds on whatever `stable` names when it is built: the
same Dockerfile, rebuilt next month, can get another base without a line of it changing.
`FROM NAME@sha256:…` builds on one manifest, always. The next cell writes `greeting-app`, a small image
on top of your greeting, with its FROM still on the tag.
"""),
    *exercise(
        "digests.pinned-from",
        (
            "%%bash\n"
            "PINNED=$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "
            '"$LABKIT_REGISTRY/$LABKIT_USER/greeting:stable" \\\n'
            '  | grep "^$LABKIT_REGISTRY/$LABKIT_USER/greeting@" | head -n 1)\n'
            'sed "s|^FROM .*|FROM $PINNED|" greeting-app/Dockerfile > greeting-app/Dockerfile.new\n'
            "mv greeting-app/Dockerfile.new greeting-app/Dockerfile\n"
            "cat greeting-app/Dockerfile\n"
            "docker build -t greeting-app:v1 greeting-app"
        ),
        (
            "%%bash\n"
            "echo 'Hello from greeting v3' > greeting/message.txt\n"
            "docker build -q -t greeting:v3 greeting\n"
            'docker tag greeting:v3 "$LABKIT_REGISTRY/$LABKIT_USER/greeting:stable"\n'
            'docker push "$LABKIT_REGISTRY/$LABKIT_USER/greeting:stable"\n'
            "docker build -t greeting-app:v2 greeting-app"
        ),
        setup=(
            "%%bash\n"
            "mkdir -p greeting-app\necho 'Signed: greeting-app' > greeting-app/signature.txt\n"
            "[ -f greeting-app/Dockerfile ] || "
            "printf 'FROM %s/%s/greeting:stable\\nCOPY signature.txt /signature.txt\\n"
            'CMD ["sh", "-c", "cat /message.txt /signature.txt"]\\n\' "$LABKIT_REGISTRY" "$LABKIT_USER" '
            "> greeting-app/Dockerfile\n"
            "cat greeting-app/Dockerfile"
        ),
    ),
    md("Both builds of `greeting-app`, side by side: the same base, though `stable` moved in between."),
    code('lab.show_layers("greeting-app:v1", "greeting-app:v2")'),
    code('%%bash\ndocker run --rm greeting-app:v2\ndocker run --rm "$LABKIT_REGISTRY/$LABKIT_USER/greeting:stable"'),
    md("""
`greeting-app:v2` still says v2, while `stable` says v3: the pinned build did not follow the tag. A
Dockerfile may keep the tag for its readers, `FROM greeting:stable@sha256:…`: Docker then uses the
digest and ignores the tag. Pinning trades surprise for upkeep: a newer base (a security fix) comes
only when you change the digest, by hand or with a tool that proposes it.
"""),
    recap(
        [
            ("Push one image under two tags", "docker push --all-tags REGISTRY/USER/greeting"),
            ("See an image's digests", "docker image inspect --format '{{json .RepoDigests}}' IMAGE"),
            ("List images with their digests", "docker images --digests"),
            ("Pull by digest", "docker pull REGISTRY/USER/greeting@sha256:…"),
            ("Pin a base", "FROM REGISTRY/USER/greeting@sha256:…"),
        ]
    ),
]

MULTISTAGE = [
    md("""
# 10 · Multi-stage builds: build with tools, ship without them

Making a program (or a web page) often needs tools that running it does not: a compiler, a
converter, a package manager's lists. Installed in the image you ship, they stay there, in its
layers, for every machine that pulls it: megabytes to download and more programs an attacker can use.
A **multi-stage** Dockerfile builds in one stage and ships another that copies only the result.

The lesson's site is a page written in Markdown (`site/index.md`); a converter, `markdown`, turns it
into HTML, and nginx serves it. About 20 minutes.
"""),
    ready(),
    md("""
## One stage: the tools come along

The next cell writes the site and `site/Dockerfile.single`, which installs the converter in the nginx
image itself, and builds it as `site:single`. The folder also holds a `.env` with a (fake) secret,
as many projects do: a token a deploy script reads, never meant for an image.
"""),
    code(
        "%%bash\nmkdir -p site\n"
        "printf '# My site\\n\\nWritten in **Markdown**, served as HTML by nginx.\\n' > site/index.md\n"
        "echo 'API_TOKEN=labkit-fake-secret-never-ship-me' > site/.env\n"
        "cat > site/Dockerfile.single <<'EOF'\nFROM nginx\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends markdown\n"
        "COPY . /src\nRUN markdown /src/index.md > /usr/share/nginx/html/index.html\nEOF\n"
        "docker build -q -f site/Dockerfile.single -t site:single site\ndocker history site:single | head -n 4"
    ),
    md("""
The `apt-get install` layer is some 80 MB: markdown and the perl it runs on, and apt's lists. And
`COPY . /src` put every file of the folder in the image, `.env` included:
"""),
    code("!docker run --rm site:single cat /src/.env"),
    md("""
## Two stages: the page alone

Each `FROM` starts a **stage**. Name one (`AS build`), and a later stage can copy files out of it with
`COPY --from=build`; nothing else of it reaches the image. Only the last stage is the image `docker build`
tags.
"""),
    *exercise(
        "multistage.ship-artifact",
        (
            "%%writefile site/Dockerfile\n"
            "FROM debian:bookworm-slim AS build\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends markdown\n"
            "WORKDIR /src\nCOPY . .\nRUN markdown index.md > index.html\n\n"
            "FROM nginx\nCOPY --from=build /src/index.html /usr/share/nginx/html/index.html"
        ),
        "!docker build -q -t site:multi site",
    ),
    code("!docker images site"),
    code('lab.show_layers("site:single", "site:multi")'),
    md("""
Both images start with nginx's layers. `site:single` adds the converter, perl, apt's lists and the
whole folder; `site:multi` adds one small layer, the page. The builder stage did its work and was left
behind (BuildKit keeps it in its build cache, for the next build; no image holds it).

## What the build context sends

`docker build site` first sends the folder `site` (the **build context**) to the engine, and `COPY . .`
copies all of it. The two-stage image ships only the page, but the builder stage still had `.env` in a
layer: in the build cache, and in any image made of that stage. `--target` builds one stage alone, as
an image you can look into:
"""),
    *exercise(
        "multistage.dockerignore",
        "%%writefile site/.dockerignore\n.env\nDockerfile*",
        "!docker build -q --target build -t site:build site",
        "!docker build -q -t site:multi site",
        before="The next cell builds the builder stage as `site:build`, and shows what its `COPY . .` brought in.",
        setup="%%bash\ndocker build -q --target build -t site:build site\ndocker run --rm site:build ls -a /src",
    ),
    code("!docker run --rm site:build ls -a /src"),
    md("""
`.env` and the Dockerfiles never left your folder: `.dockerignore` lists, one pattern per line, what
the build context leaves out (`*` within a folder, `**` across folders, `!` to bring a file back).
Whatever is not sent, no instruction can copy, by mistake or not.
"""),
    recap(
        [
            ("Name a stage", "FROM debian:bookworm-slim AS build"),
            ("Copy from a stage", "COPY --from=build /src/index.html /usr/share/nginx/html/"),
            ("Build one stage alone", "docker build --target build -t site:build site"),
            ("Leave files out of the context", ".dockerignore: .env"),
            ("Compare sizes", "docker images site"),
        ]
    ),
]

DISK = [
    md("""
# 11 · What an image is, on disk

`docker images` shows an image as one line, but an image is a few files, each named by the hash of
its content: a **manifest** (which files make the image), a **config** (the settings, and the list
of layers) and the **layers** themselves (tars of files). `docker save` writes them into one tar
you can unpack and read; `docker load` reads them back; a registry stores the same files. This
lesson opens one up, loads it back, and pushes one name that holds an image for two kinds of
machine. About 20 minutes.
"""),
    ready(),
    md("""
## Save an image, unpack it

The next cell builds the lesson's image, `postcard:v1`: `busybox` plus two layers of its own, a
file copied in and a file a `RUN` wrote.
"""),
    *exercise(
        "disk.saved",
        "!docker save -o postcard.tar postcard:v1",
        "!mkdir -p postcard-saved && tar -xf postcard.tar -C postcard-saved && ls postcard-saved",
        setup=(
            "%%bash\nmkdir -p postcard\necho 'Greetings from the image on disk' > postcard/card.txt\n"
            "printf \"FROM busybox\\nCOPY card.txt /card.txt\\nRUN echo 'stamped at the post office' > /stamp.txt\\n\" "
            "> postcard/Dockerfile\ndocker build -q -t postcard:v1 postcard"
        ),
    ),
    md("""
## Read it

`manifest.json` names the config file and the layer files, bottom layer first. The config is JSON:
the image's settings (`Cmd`, `Env`, …), its platform, and under `rootfs.diff_ids` one hash per layer:
"""),
    code(
        "import json, pathlib\n\n"
        'saved = pathlib.Path("postcard-saved")\n'
        'manifest = json.loads((saved / "manifest.json").read_text())[0]\n'
        'config = json.loads((saved / manifest["Config"]).read_text())\n'
        'print("config:", manifest["Config"])\n'
        'print("platform:", config["os"] + "/" + config["architecture"])\n'
        'for file, diff_id in zip(manifest["Layers"], config["rootfs"]["diff_ids"]):\n'
        '    print("layer:", file, "\\n   diff id:", diff_id)'
    ),
    md("""
The engine lists the same diff ids for the image (`RootFS.Layers`): they are what an image's layers
*are*, on every engine.
"""),
    code("%%bash\ndocker image inspect --format '{{range .RootFS.Layers}}{{println .}}{{end}}' postcard:v1"),
    md("""
A **diff id** is the sha256 of a layer's tar, uncompressed. The layer *file* may be compressed (gzip),
and its name is then the hash of the compressed bytes, which is what a registry calls the layer. Check
the top one yourself: uncompress it (`gzip -dcf` passes an uncompressed file through as it is) and hash it.
"""),
    code(
        "%%bash\n"
        "top=$(python3 -c \"import json; print(json.load(open('postcard-saved/manifest.json'))[0]['Layers'][-1])\")\n"
        'echo "file:    $top"\n'
        'echo "diff id: sha256:$(gzip -dcf "postcard-saved/$top" | sha256sum | cut -d\' \' -f1)"'
    ),
    md("""
What the folder looks like depends on your engine:

- **Engine 25 and newer** write an **OCI image layout**: `oci-layout`, `index.json`, and every file under
  `blobs/sha256/`, named by its digest, with Docker's `manifest.json` beside them. With the **containerd
  image store** (this lab's engine, Docker Desktop) the layers are kept as they were pulled, compressed;
  `index.json` points to the image's index or manifest, whose digest is the image ID.
- **Older engines** (Engine 20.10) write only Docker's own format: `manifest.json`, the config as
  `<digest>.json` (that digest is the **classic store**'s image ID), and each layer as an uncompressed
  `<folder>/layer.tar`.

Either way the config names the layers by diff id, and the files hold exactly those layers.

## Load it back

`docker save` is how an image travels without a registry: to a machine with no network, or as a file
attached to a bug report. `docker load` takes it back.
"""),
    *exercise("disk.load", "!docker rmi postcard:v1", "!docker load -i postcard.tar"),
    code("!docker run --rm postcard:v1 cat /card.txt /stamp.txt"),
    md("""
## One name, two platforms

An image holds programs for one kind of machine, its **platform** (`linux/amd64` for most PCs and servers,
`linux/arm64` for Apple silicon, Raspberry Pi and many cloud machines): its config says which. A name
like `nginx` still works everywhere because the registry holds an **index** (a manifest list) under it:
one entry per platform, each the digest of that platform's image. `docker pull` reads the index and
takes the entry for its machine.

`docker buildx build --platform` builds for another platform than yours. A `RUN` would then need an
emulator; an image `FROM scratch` (nothing at all) with one file copied in runs nothing while it is
built, so the next cell's Dockerfile builds for any platform, here.

Whether your engine can keep such an image itself depends on its image store:
"""),
    code(
        "%%bash\n"
        "if docker info --format '{{json .DriverStatus}}' | grep -q containerd.snapshotter; then\n"
        '  echo "containerd image store: a local name can hold an index of several platforms"\n'
        "else\n"
        '  echo "classic image store: one platform per local name"\n'
        "fi"
    ),
    md("""
With the **containerd image store** one command builds both platforms and pushes the index. The **classic
store** keeps one platform per name, so a multi-platform build cannot be kept there: push each platform
under a tag of its own, then have buildx write the index in the registry from the two
(`docker buildx imagetools create`). The solution below does whichever your engine needs.
"""),
    *exercise(
        "disk.multi-platform",
        (
            "%%bash\n"
            'REPO="$LABKIT_REGISTRY/$LABKIT_USER/everywhere"\n'
            "if docker info --format '{{json .DriverStatus}}' | grep -q containerd.snapshotter; then\n"
            '  docker buildx build -q --platform linux/amd64,linux/arm64 -t "$REPO:v1" --push everywhere\n'
            "else\n"
            "  for arch in amd64 arm64; do\n"
            '    docker buildx build -q --platform "linux/$arch" -t "$REPO:$arch" --push everywhere\n'
            "  done\n"
            '  docker buildx imagetools create -t "$REPO:v1" "$REPO:amd64" "$REPO:arm64"\n'
            "fi"
        ),
        setup=(
            "%%bash\n"
            'docker login "$LABKIT_REGISTRY" -u "$LABKIT_USER" --password-stdin < "$LABKIT_PASSWORD_FILE"\n'
            "mkdir -p everywhere\necho 'Hello from any machine' > everywhere/hello.txt\n"
            "printf 'FROM scratch\\nCOPY hello.txt /hello.txt\\n' > everywhere/Dockerfile\ncat everywhere/Dockerfile"
        ),
    ),
    code('%%bash\ndocker buildx imagetools inspect "$LABKIT_REGISTRY/$LABKIT_USER/everywhere:v1"'),
    md("""
The index lists a manifest per platform. With BuildKit's defaults you may also see entries of platform
`unknown/unknown`: **attestations** (how the image was built), stored beside the images, never pulled as one.
"""),
    recap(
        [
            ("Write an image to a tar", "docker save -o postcard.tar postcard:v1"),
            ("Read it back", "docker load -i postcard.tar"),
            ("An image's diff ids", "docker image inspect --format '{{json .RootFS.Layers}}' IMAGE"),
            ("Build and push two platforms", "docker buildx build --platform linux/amd64,linux/arm64 -t NAME --push ."),
            ("Join pushed images in an index", "docker buildx imagetools create -t NAME:v1 NAME:amd64 NAME:arm64"),
            ("Read an index", "docker buildx imagetools inspect NAME"),
        ]
    ),
]

NOTEBOOKS = {
    "00-start-here": START,
    "01-what-is-an-image": IMAGE,
    "02-image-vs-container": CONTAINER,
    "03-inspecting-images": INSPECT,
    "04-layers": LAYERS,
    "05-commit": COMMIT,
    "06-try-it": TRYIT,
    "07-push": PUSH,
    "08-capstone": CAPSTONE,
    "09-digests": DIGESTS,
    "10-multi-stage": MULTISTAGE,
    "11-image-on-disk": DISK,
}
