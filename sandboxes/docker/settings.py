"""`AHA_SANDBOX_DOCKER_*` settings and the images each language runs in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sandboxes import config, languages

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
    """`AHA_SANDBOX_DOCKER_*` settings, read once per `DockerSandbox`."""

    uid: int = 10001  # runs the programs
    gid: int = 10001
    keeper_uid: int = 10000  # runs the container's init and `sleep`: a uid the program cannot signal or ptrace
    pool_size: int = 2  # warm containers kept per shape; 0 = create every container on demand
    max_shapes: int = 8  # shapes with a warm pool; the least recently used one is dropped beyond this
    image_prefix: str = "aha-sandbox-"
    runtime: str = ""  # e.g. "runsc" (gVisor) when the engine has it; empty = the engine's default (runc)
    api_timeout_s: int = 60
    retry_engine_s: float = 5.0  # after a failed connection, report the same error for this long

    @classmethod
    def from_env(cls) -> DockerSettings:
        """Settings from the environment; a root uid is refused (ValueError), never silently used."""
        uid = config.env_int("SANDBOX_DOCKER_UID", cls.uid)
        gid = config.env_int("SANDBOX_DOCKER_GID", uid)
        keeper = config.env_int("SANDBOX_DOCKER_KEEPER_UID", cls.keeper_uid)
        if min(uid, gid, keeper) <= 0 or keeper == uid:
            raise ValueError(
                "AHA_SANDBOX_DOCKER_UID/GID/KEEPER_UID must be non-root ids, the keeper's not the program's"
            )
        return cls(
            uid=uid,
            gid=gid,
            keeper_uid=keeper,
            pool_size=max(0, config.env_int("SANDBOX_DOCKER_POOL", cls.pool_size)),
            max_shapes=max(1, config.env_int("SANDBOX_DOCKER_POOL_SHAPES", cls.max_shapes)),
            image_prefix=config.env_str("SANDBOX_DOCKER_IMAGE_PREFIX", cls.image_prefix),
            runtime=config.env_str("SANDBOX_DOCKER_RUNTIME", ""),
            api_timeout_s=max(5, config.env_int("SANDBOX_DOCKER_API_TIMEOUT_S", cls.api_timeout_s)),
        )

    @property
    def user(self) -> str:
        """The program's `uid:gid`, as Docker takes `user`."""
        return f"{self.uid}:{self.gid}"

    @property
    def keeper(self) -> str:
        """The container's own `uid:gid` (its init and `sleep`)."""
        return f"{self.keeper_uid}:{self.keeper_uid}"


def image_for(language: str | None, prefix: str | None = None) -> str:
    """The image for a recipe name or alias: `AHA_SANDBOX_DOCKER_IMAGE_<LANG>`, else `<prefix><image dir>`.

    A run without a language (a bare command) uses `AHA_SANDBOX_DOCKER_IMAGE_DEFAULT`, else the python image.
    """
    recipe = languages.get_recipe(language) if language else None
    name = recipe.name if recipe is not None else "default"
    override = config.env_str(f"SANDBOX_DOCKER_IMAGE_{name.upper()}", "")
    if override:
        return override
    if prefix is None:
        prefix = config.env_str("SANDBOX_DOCKER_IMAGE_PREFIX", DockerSettings.image_prefix)
    return prefix + IMAGE_DIRS.get(name, "python")


def dockerfile(language: str) -> Path:
    """The Dockerfile of a recipe's image in this repo."""
    recipe = languages.get_recipe(language)
    name = recipe.name if recipe is not None else language
    return IMAGES_DIR / IMAGE_DIRS[name] / "Dockerfile"
