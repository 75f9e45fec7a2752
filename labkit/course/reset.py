"""`labkit reset`: remove what the course created, and nothing else.

What a lesson created is listed in the catalog (image and container names, workspace
files, registry repositories, the learner's registry login, the repositories whose untagged
images it removes by their digest names); containers labkit itself
made carry the `labkit` label; an unnamed container (a name Docker made up) is the
lesson's only when a check saw it made during the lesson (`ProgressStore.made_since_reset`),
never for what it holds. Nothing is pruned: an image, container or volume that
is not on those lists is never touched, and an image still used by a container of the
learner's is kept (and said so).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess

from ..engines import LABEL
from ..errors import EngineError, ImageMissing
from ..registries import BASE_IMAGES
from . import catalog
from ._context import LabContext
from ._progress import ProgressStore
from .catalog import Exercise
from .exercises import fill


def reset(ctx: LabContext, lessons: list[str] | None = None) -> list[str]:
    """Reset the given lessons (all when None); returns what was removed or kept, in words."""
    exercises = [e for name in lessons for e in catalog.lesson(name)] if lessons else list(catalog.EXERCISES)
    store = ProgressStore.for_paths(ctx.paths)
    done: list[str] = []
    for exercise in exercises:
        done += _containers(ctx, exercise, store.made_since_reset(exercise.lesson))
    for container in ctx.engine.containers.list({"label": LABEL}):
        ctx.engine.containers.remove(container["Id"])
        done.append(f"removed labkit's container {container['Id'][:12]}")
    for exercise in reversed(exercises):
        done += _images(ctx, exercise)
        done += _files(ctx, exercise)
        done += _repositories(ctx, exercise)
    if any(e.resources.login for e in exercises):
        done += _logout(ctx)
    for lesson in dict.fromkeys(e.lesson for e in exercises):
        store.record_reset(lesson)
    return done


def _containers(ctx: LabContext, exercise: Exercise, made: set[str]) -> list[str]:
    """The containers the exercise names, and the unnamed ones a check saw made during the lesson
    (`made`): a container of the learner's own naming is never claimed by what it holds."""
    done = []
    names = list(exercise.resources.containers) + sorted(made)
    for box in [ctx.engine.containers.get(name) for name in names]:
        if box is not None and ctx.engine.containers.get(box["Id"]) is not None:
            ctx.engine.containers.remove(box["Id"])
            done.append(f"removed container {box['Name'].lstrip('/')}")
    return done


def _images(ctx: LabContext, exercise: Exercise) -> list[str]:
    done = []
    for ref in (fill(r, ctx) for r in exercise.resources.images):
        if ctx.engine.images.id(ref) is None:
            continue
        if ref in BASE_IMAGES and not ctx.pulls_through_mirror():
            done.append(
                f"kept image {ref}: your engine pulls it from Docker Hub, not from the lab's mirror, "
                "so it may be yours from before and may not come back offline"
            )
            continue
        try:
            ctx.engine.images.untag(ref)
            done.append(f"removed image {ref}")
        except EngineError as e:
            done.append(f"kept image {ref}: {e.message}")
    return done + _digest_names(ctx, exercise)


def _digest_names(ctx: LabContext, exercise: Exercise) -> list[str]:
    """The images of the exercise's `by_digest` repositories that no tag names any more, by their
    digest names (`REPO@sha256:…`): an image with a tag, of the learner's or the course's, is never
    touched here."""
    done = []
    for repo in (fill(r, ctx) for r in exercise.resources.by_digest):
        for summary in ctx.engine.images.list():
            if [tag for tag in summary.get("RepoTags") or [] if tag != "<none>:<none>"]:
                continue
            for ref in [d for d in summary.get("RepoDigests") or [] if d.startswith(f"{repo}@")]:
                try:
                    ctx.engine.images.untag(ref)
                    done.append(f"removed image {ref}")
                except ImageMissing:
                    continue  # the image went with its previous digest name
                except EngineError as e:
                    done.append(f"kept image {ref}: {e.message}")
    return done


def _files(ctx: LabContext, exercise: Exercise) -> list[str]:
    done = []
    for name in exercise.resources.files:
        path = ctx.workspace / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        done.append(f"removed {path}")
    return done


def _repositories(ctx: LabContext, exercise: Exercise) -> list[str]:
    done = []
    client = ctx.registry()
    for repo in (fill(r, ctx) for r in exercise.resources.repositories):
        for tag in client.tags(repo):
            if client.delete_tag(repo, tag):
                done.append(f"removed {repo}:{tag} from the course registry")
    return done


def _logout(ctx: LabContext) -> list[str]:
    """Forget the learner's login to the course registry (only that one) in their docker config."""
    path = ctx.docker_config / "config.json"
    config = ctx.docker_config_auths()
    done = _erase_from_helper(ctx, config)
    auths = config.get("auths") or {}
    keys = [k for k in (ctx.registry_address, f"http://{ctx.registry_address}") if k in auths]
    if not keys:
        return done
    for key in keys:
        del auths[key]
    tmp = path.with_suffix(".labkit-tmp")
    tmp.write_text(json.dumps(config, indent="\t") + "\n")
    with contextlib.suppress(OSError):
        os.chmod(tmp, os.stat(path).st_mode & 0o777)
    os.replace(tmp, path)
    return done + [f"logged out of {ctx.registry_address} (in {path})"]


def _erase_from_helper(ctx: LabContext, config: dict) -> list[str]:
    """A login kept by a credential helper (as Docker Desktop does) is erased there, for this registry only."""
    helper = (config.get("credHelpers") or {}).get(ctx.registry_address) or config.get("credsStore")
    program = shutil.which(f"docker-credential-{helper}") if helper else None
    if not program:
        return []
    erased = subprocess.run([program, "erase"], input=ctx.registry_address, capture_output=True, text=True, timeout=20)
    return (
        [f"erased the login for {ctx.registry_address} from docker-credential-{helper}"]
        if erased.returncode == 0
        else []
    )
