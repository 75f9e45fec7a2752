"""10-multi-stage: build with tools, ship without them.

The checks read the images' layers themselves (the files each layer above its base holds, from the
engine's export), the page the final image serves, and the build context's .dockerignore: the same
on the classic image store and the containerd one, the legacy builder and BuildKit."""

import re
from pathlib import PurePosixPath

from .._context import LabContext
from .._results import CheckResult, first_failure
from ..checks import images
from ..checks.files import learner_text
from ._base import Exercise, Resources

PAGE = "usr/share/nginx/html/index.html"
#: What the builder stage installs, were it to reach the shipped image: the converter and the perl it runs on.
TOOLS = ("usr/bin/markdown", "usr/share/perl/", "usr/lib/x86_64-linux-gnu/perl/", "usr/lib/aarch64-linux-gnu/perl/")
#: The build context's own files: none belongs in the shipped image.
CONTEXT = (".env", "index.md", "Dockerfile", "Dockerfile.single", ".dockerignore")
#: The margin: the two-stage image adds under a megabyte to nginx, the single-stage one at least this much more.
SMALL, MARGIN = 1_000_000, 10_000_000

INDEX_MD = "# My site\\n\\nWritten in **Markdown**, served as HTML by nginx.\\n"
SECRET = "API_TOKEN=labkit-fake-secret-never-ship-me"
SINGLE_DOCKERFILE = (
    "FROM nginx\\n"
    "RUN apt-get update && apt-get install -y --no-install-recommends markdown\\n"
    "COPY . /src\\n"
    "RUN markdown /src/index.md > /usr/share/nginx/html/index.html\\n"
)
BUILD = "docker build -t site:multi site"


def _tools(files: dict[str, int]) -> list[str]:
    """The converter and perl, wherever they were put (a `COPY --from=build` may rename them)."""
    named = ("markdown", "perl", "Markdown.pl")
    return sorted(p for p in files if p.startswith(TOOLS) or PurePosixPath(p).name in named or "/perl5/" in p)


def _context_files(files: dict[str, int]) -> list[str]:
    return sorted(p for p in files if PurePosixPath(p).name in CONTEXT)


def _heading(ctx: LabContext) -> str:
    text = learner_text(ctx.workspace / "site" / "index.md") or ""
    return next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "")


def _only_the_page(ctx: LabContext, ref: str) -> CheckResult:
    """`ref`'s layers above nginx's hold the page made from index.md, and nothing else (no tool, no source)."""
    want = f"{ref}: nginx, plus {PAGE} made from site/index.md, and nothing else"
    files = images.added_files(ctx, ref, "nginx") or {}
    tools, sources = _tools(files), _context_files(files)
    if tools:
        weight = images.in_megabytes(sum(files[p] for p in tools))
        installed = any(p.startswith("var/lib/dpkg/") for p in files)
        how = (
            "it was installed in the stage you ship. Install it in a builder stage (`FROM debian:bookworm-slim AS "
            "build`) and copy only the page into the nginx stage"
            if installed
            else "the builder's tools were copied across. Copy only the page: "
            f"`COPY --from=build /src/index.html /{PAGE}`"
        )
        return CheckResult.fail(
            f"{ref} carries the tool that made the page ({tools[0]} among {len(tools)} files, {weight}): {how}.",
            f"{len(tools)} files of markdown and perl",
            want,
        )
    if sources:
        secrets = [p for p in sources if p.endswith(".env")]
        what = (
            f"{secrets[0]}, the secret (anyone who pulls the image can read it), and "
            f"{', '.join(p for p in sources if p not in secrets[:1]) or 'nothing else of the folder'}"
            if secrets
            else ", ".join(sources)
        )
        return CheckResult.fail(
            (
                f"{ref} ships the build context's own files, {what}: the final stage copied the whole folder. "
                f"Copy only the page: `COPY --from=build /src/index.html /{PAGE}`, then `{BUILD}`."
            ),
            ", ".join(sources),
            want,
        )
    if PAGE not in files:
        return CheckResult.fail(
            (
                f"{ref} adds no {PAGE} of its own: copy the page the builder made into the nginx stage, "
                f"`COPY --from=build /src/index.html /{PAGE}`, then `{BUILD}`."
            ),
            f"no {PAGE} above nginx",
            want,
        )
    page = ctx.engine.images.read_file(ref, "/" + PAGE) or b""
    heading = _heading(ctx)
    made = re.search(rb"<h1[^>]*>\s*" + re.escape(heading.encode()) + rb"\s*</h1>", page) if heading else b"<h" in page
    if not made:
        return CheckResult.fail(
            (
                f"{ref}'s {PAGE} is not the HTML made from site/index.md (no <h1>{heading}</h1> in it): let the "
                f"builder stage run `markdown index.md > index.html` and copy that, then `{BUILD}`."
            ),
            page[:60].decode(errors="replace"),
            want,
        )
    others = sorted(p for p in files if p != PAGE)
    if others:
        return CheckResult.fail(
            f"{ref} adds files besides the page: {', '.join(others[:4])}: the final stage should copy the page alone.",
            f"{len(others)} other files",
            want,
        )
    return CheckResult.ok(
        f"{ref} is nginx plus one file, the page the builder made from index.md: no markdown, no perl, no source.",
        f"{PAGE} alone above nginx",
        want,
    )


def _smaller(ctx: LabContext) -> CheckResult:
    want = (
        f"site:multi adding under {images.in_megabytes(SMALL)} to nginx, site:single {images.in_megabytes(MARGIN)} more"
    )
    single = images.present(
        ctx, "site:single", "build it: `docker build -f site/Dockerfile.single -t site:single site`"
    )
    if not single.passed:
        return single
    multi_files = images.added_files(ctx, "site:multi", "nginx") or {}
    single_files = images.added_files(ctx, "site:single", "nginx")
    if single_files is None:
        return CheckResult.fail(
            "site:single is not built on nginx: build it again, "
            "`docker build -f site/Dockerfile.single -t site:single site`.",
            "site:single not on nginx",
            want,
        )
    multi, one = sum(multi_files.values()), sum(single_files.values())
    seen = f"site:multi adds {images.in_megabytes(multi)}, site:single {images.in_megabytes(one)}"
    if multi >= SMALL or one - multi < MARGIN:
        return CheckResult.fail(
            f"{seen} to nginx: the two-stage image should add the page alone (under 1 MB).", seen, want
        )
    return CheckResult.ok(
        f"{seen} to nginx: the tools stayed in the builder stage, {images.in_megabytes(one - multi)} lighter.",
        seen,
        want,
    )


def _ship_artifact(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: images.present(ctx, "site:multi", f"write site/Dockerfile with two stages, then `{BUILD}`"),
        lambda: images.built_on(ctx, "site:multi", "nginx"),
        lambda: _only_the_page(ctx, "site:multi"),
        lambda: _smaller(ctx),
    )


def _regex(pattern: str) -> str:
    """A .dockerignore pattern as a regular expression (Go's filepath.Match, plus `**`)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 3 if pattern.startswith("**/", i) else 2
            continue
        char = pattern[i]
        if char == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            out.append("[" + pattern[i + 1 : end].replace("!", "^", 1) + "]")
            i = end + 1
            continue
        out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
        i += 1
    return "".join(out)


def ignored(patterns: list[str], path: str) -> bool:
    """Whether a .dockerignore's `patterns` exclude `path` (relative to the context): Docker's rules, in
    short: a leading `/` means nothing, `*` and `?` stay within a folder, `**` crosses folders, a
    pattern also excludes what is inside a folder it names, `!` brings a path back, the last match wins."""
    excluded = False
    for raw in patterns:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        pattern = str(PurePosixPath(pattern)) if pattern else pattern
        if re.fullmatch(f"{_regex(pattern)}(/.*)?", path, re.S):
            excluded = not keep
    return excluded


def _ignore_file(ctx: LabContext) -> CheckResult:
    path = ctx.workspace / "site" / ".dockerignore"
    want = "site/.dockerignore excluding .env"
    text = learner_text(path)
    if text is None:
        return CheckResult.fail(
            "There is no site/.dockerignore yet: write one that names `.env` (one pattern per line).", "none", want
        )
    patterns = text.splitlines()
    if not ignored(patterns, ".env"):
        return CheckResult.fail(
            "site/.dockerignore does not exclude .env: add a line `.env` (and no `!.env` after it).",
            "; ".join(p.strip() for p in patterns if p.strip())[:80],
            want,
        )
    return CheckResult.ok("site/.dockerignore excludes .env.", ".env excluded", want)


def _no_secret(ctx: LabContext, ref: str, base: str, copied: str = "") -> CheckResult:
    """`ref` is built on `base`, no layer above it holds a .env, and (where given) `copied` is there."""
    want = f"{ref}: no .env in any of its layers" + (f", {copied} copied in" if copied else "")
    files = images.added_files(ctx, ref, base)
    if files is None:
        return images.built_on(ctx, ref, base)
    leaked = sorted(p for p in files if PurePosixPath(p).name == ".env")
    if leaked:
        return CheckResult.fail(
            (
                f"{ref} still holds {leaked[0]}: it was built before your .dockerignore, or the file does not "
                f"exclude it. Build it again: `docker build --target build -t site:build site` and `{BUILD}`."
            ),
            f"{', '.join(leaked)} in {ref}",
            want,
        )
    if copied and copied not in files:
        return CheckResult.fail(
            (
                f"{ref} holds no {copied}: the builder stage should still copy the folder in (`COPY . .` in "
                "/src): .dockerignore leaves out only what it names."
            ),
            f"no {copied}",
            want,
        )
    return CheckResult.ok(f"No layer of {ref} holds a .env.", "no .env", want)


def _dockerignore(ctx: LabContext, answer=None) -> CheckResult:
    return first_failure(
        lambda: _ignore_file(ctx),
        lambda: images.present(
            ctx, "site:build", "build the builder stage: `docker build --target build -t site:build site`"
        ),
        lambda: _no_secret(ctx, "site:build", "debian:bookworm-slim", "src/index.md"),
        lambda: images.present(ctx, "site:multi", f"`{BUILD}`"),
        lambda: _no_secret(ctx, "site:multi", "nginx"),
        lambda: CheckResult.ok(
            "The secret never reached the build: no layer of site:build or site:multi holds .env, though the "
            "builder copied the folder.",
            "no .env in either",
            ".env left out of the build context",
        ),
    )


EXERCISES = [
    Exercise(
        id="multistage.ship-artifact",
        wakes=("image", "workspace"),
        title="Ship the page, not the tools",
        points=4,
        task=(
            "Write `site/Dockerfile` with two stages: a builder `FROM debian:bookworm-slim AS build` that installs "
            "`markdown` and turns `index.md` into `index.html`, then `FROM nginx` copying only that page to "
            "`/usr/share/nginx/html/index.html`. Build it as `site:multi`: it must hold the page and none of the "
            "builder's tools or files, and add under 1 MB to nginx where `site:single` adds over 10 MB more."
        ),
        check=_ship_artifact,
        hints=(
            "Each `FROM` starts a stage; only the last one is the image you ship. `COPY --from=build SRC DEST` "
            "copies a file out of the stage named `build`, and nothing else of it comes along.",
            "The builder: `FROM debian:bookworm-slim AS build`, `RUN apt-get update && apt-get install -y "
            "--no-install-recommends markdown`, `WORKDIR /src`, `COPY . .`, `RUN markdown index.md > index.html`.",
            "Then `FROM nginx` and `COPY --from=build /src/index.html /usr/share/nginx/html/index.html`; build with "
            "`docker build -t site:multi site`.",
        ),
        setup=(
            "mkdir -p {workspace}/site",
            f"printf '{INDEX_MD}' > {{workspace}}/site/index.md",
            f"echo '{SECRET}' > {{workspace}}/site/.env",
            f"printf '{SINGLE_DOCKERFILE}' > {{workspace}}/site/Dockerfile.single",
            "docker build -q -f {workspace}/site/Dockerfile.single -t site:single {workspace}/site",
        ),
        resources=Resources(images=("site:single", "site:multi"), files=("site",)),
    ),
    Exercise(
        id="multistage.dockerignore",
        wakes=("image", "workspace"),
        title="Keep secrets out of the build context",
        points=2,
        task=(
            "`COPY . .` sends the whole folder, `.env` too, into the builder's layers. Write `site/.dockerignore` "
            "naming `.env`, then build the builder stage alone again (`docker build --target build -t site:build "
            "site`) and `site:multi`: no layer of either may hold `.env`."
        ),
        check=_dockerignore,
        hints=(
            "`docker build` first sends the folder (the build context) to the engine; `.dockerignore` lists what "
            "it leaves out, one pattern per line, so no instruction can copy it.",
            "`printf '.env\\nDockerfile*\\n' > site/.dockerignore`",
            "Then `docker build --target build -t site:build site` and `docker build -t site:multi site`.",
        ),
        setup=("docker build -q --target build -t site:build {workspace}/site",),
        resources=Resources(images=("site:build",)),
    ),
]
