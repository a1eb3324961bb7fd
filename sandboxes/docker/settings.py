"""`AHA_SANDBOX_DOCKER_*` settings and the images each language runs in."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sandboxes import languages
from sandboxes.config import SandboxSettings

# Image directory under sandboxes/images/ per recipe name (C and C++ share the gcc image).
IMAGE_DIRS: dict[str, str] = {
    "python": "python",
    "c": "gcc",
    "cpp": "gcc",
    "java": "java",
    "nodejs": "nodejs",
    "go": "go",
    "rust": "rust",
}
IMAGES_DIR = Path(__file__).resolve().parent.parent / "images"


@dataclass(frozen=True)
class DockerSettings:
    """The docker backend's settings (from `SandboxSettings`' `docker_*` fields), one object per `DockerSandbox`."""

    uid: int = 10001  # runs the programs
    gid: int = 10001
    keeper_uid: int = 10000  # runs the container's init and `sleep`: a uid the program cannot signal or ptrace
    pool_size: int = 2  # warm containers kept per shape; 0 = create every container on demand
    max_shapes: int = 8  # shapes with a warm pool; the least recently used one is dropped beyond this
    image_prefix: str = "aha-sandbox-"
    runtime: str = ""  # e.g. "runsc" (gVisor) when the engine has it; empty = the engine's default (runc)
    api_timeout_s: int = 60
    retry_engine_s: float = 5.0  # after a failed connection, report the same error for this long

    slots: int = field(default_factory=lambda: os.cpu_count() or 1)  # sandbox slots: engine connections to keep
    images: tuple[tuple[str, str], ...] = ()  # (recipe name or "default", image) overrides of `<prefix><dir>`

    @classmethod
    def from_settings(cls, settings: SandboxSettings) -> DockerSettings:
        """The docker part of the sandbox's settings (validated there: non-root uids, the keeper's not the
        program's)."""
        names = (*languages.RECIPES, "default")
        return cls(
            uid=settings.docker_uid,
            gid=settings.docker_gid or settings.docker_uid,
            keeper_uid=settings.docker_keeper_uid,
            pool_size=settings.docker_pool,
            max_shapes=settings.docker_pool_shapes,
            image_prefix=settings.docker_image_prefix,
            runtime=settings.docker_runtime,
            api_timeout_s=settings.docker_api_timeout_s,
            slots=settings.slots,
            images=tuple((name, image) for name in names if (image := settings.docker_image(name))),
        )

    @classmethod
    def from_env(cls) -> DockerSettings:
        """`from_settings` of the environment's; SandboxConfigError (a ValueError) naming a malformed variable."""
        return cls.from_settings(SandboxSettings.from_env())

    @property
    def user(self) -> str:
        """The program's `uid:gid`, as Docker takes `user`."""
        return f"{self.uid}:{self.gid}"

    @property
    def keeper(self) -> str:
        """The container's own `uid:gid` (its init and `sleep`)."""
        return f"{self.keeper_uid}:{self.keeper_uid}"


def image_for(language: str | None, settings: DockerSettings | None = None) -> str:
    """The image for a recipe name or alias: `AHA_SANDBOX_DOCKER_IMAGE_<LANG>`, else `<prefix><image dir>`.

    A run without a language (a bare command) uses `AHA_SANDBOX_DOCKER_IMAGE_DEFAULT`, else the python image.
    `settings` default: the environment's.
    """
    settings = settings or DockerSettings.from_env()
    recipe = languages.get_recipe(language) if language else None
    name = recipe.name if recipe is not None else "default"
    override = dict(settings.images).get(name)
    if override:
        return override
    return settings.image_prefix + IMAGE_DIRS.get(name, "python")


def dockerfile(language: str) -> Path:
    """The Dockerfile of a recipe's image in this repo."""
    recipe = languages.get_recipe(language)
    name = recipe.name if recipe is not None else language
    return IMAGES_DIR / IMAGE_DIRS[name] / "Dockerfile"
