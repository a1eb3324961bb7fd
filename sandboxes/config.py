"""The sandbox's settings: one typed, validated tree, built once (`SandboxSettings.from_env()`) and passed down.

Every field is set by `AHA_SANDBOX_<FIELD>` (e.g. `AHA_SANDBOX_SLOTS`, `AHA_SANDBOX_DOCKER_POOL`); an empty value
means the default. A malformed value fails where the settings are built, naming the variable, never silently
replaced by a default. The service builds them at start-up (`service.settings.Settings.sandbox`); a script or a
test that builds a sandbox with `get_sandbox()` reads them from the environment at that moment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "AHA_SANDBOX_"


class SandboxConfigError(ValueError):
    """An `AHA_SANDBOX_*` variable holds a value the sandbox cannot use."""


def _default_work_dir() -> Path:
    # tmpfs-backed when it can be: program dirs are small and short-lived
    return Path("/dev/shm/aha-work") if Path("/dev/shm").is_dir() else Path("/tmp/aha-work")


class SandboxSettings(BaseSettings):
    """Every knob of the sandbox (both backends). Frozen: one object is shared by everything it configures."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True, str_strip_whitespace=True
    )

    backend: Literal["bwrap", "docker"] = Field("bwrap", description="Which backend runs programs")
    slots: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="Runs at once on this machine (all processes)"
    )
    runtime_dir: Path = Field(Path("/tmp/aha-sandbox"), description="Slot lock files, shared by the host's processes")
    work_dir: Path = Field(default_factory=_default_work_dir, description="Parent of the per-program dirs")
    uid_base: int = Field(61000, ge=1, description="As root, slot i runs as host uid uid_base+i (never root)")
    cgroups: bool = Field(True, description="Per-run cgroups (false: rlimits only)")
    warm: bool = Field(True, description="Warm bwrap boxes (false: a cold sandbox per run)")
    bwrap: str = Field("/usr/bin/bwrap", description="The bubblewrap binary")
    compile_timeout_s: float = Field(30.0, gt=0, description="Default wall and CPU limit of a compile")

    docker_uid: int = Field(10001, ge=1, description="Docker backend: the programs' uid")
    docker_gid: int | None = Field(None, ge=1, description="Docker backend: the programs' gid (default: the uid)")
    docker_keeper_uid: int = Field(10000, ge=1, description="Docker backend: the uid of each container's init")
    docker_pool: int = Field(2, ge=0, description="Docker backend: warm containers per shape (0: none)")
    docker_pool_shapes: int = Field(8, ge=1, description="Docker backend: shapes with a warm pool")
    docker_image_prefix: str = Field("aha-sandbox-", min_length=1, description="Docker backend: image name prefix")
    docker_runtime: str = Field("", description="Docker backend: OCI runtime, e.g. runsc (empty: the engine's)")
    docker_api_timeout_s: int = Field(60, ge=5, description="Docker backend: timeout of one engine API call")
    # Per-language images, replacing `<prefix><image dir>` (AHA_SANDBOX_DOCKER_IMAGE_CPP, ...); DEFAULT: no language.
    docker_image_python: str = ""
    docker_image_c: str = ""
    docker_image_cpp: str = ""
    docker_image_java: str = ""
    docker_image_nodejs: str = ""
    docker_image_go: str = ""
    docker_image_rust: str = ""
    docker_image_default: str = ""

    @field_validator("backend", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _distinct_docker_uids(self) -> SandboxSettings:
        if self.docker_keeper_uid == self.docker_uid:
            raise ValueError(f"{ENV_PREFIX}DOCKER_KEEPER_UID must differ from {ENV_PREFIX}DOCKER_UID")
        return self

    @classmethod
    def from_env(cls) -> SandboxSettings:
        """The settings from the environment; SandboxConfigError naming each malformed variable.

        Parsed once per set of `AHA_SANDBOX_*` values (a parse costs about a millisecond; a look at the environment
        some microseconds), so a caller that builds a sandbox per call pays little, and still sees a change.
        """
        ours = tuple(sorted((k.upper(), v) for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)))
        return _parse(cls, ours)

    def docker_image(self, recipe_name: str) -> str:
        """The image override for a recipe name (or `default`), empty when there is none."""
        return str(getattr(self, f"docker_image_{recipe_name}", "") or "")


@lru_cache(maxsize=16)
def _parse(cls: type[SandboxSettings], env: tuple[tuple[str, str], ...]) -> SandboxSettings:
    # `env` is the key only: the settings read os.environ, which holds exactly these AHA_SANDBOX_* values now
    try:
        return cls()
    except ValidationError as exc:
        raise SandboxConfigError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x != "__root__"]
        name = f"{ENV_PREFIX}{loc[0].upper()}" if loc else "AHA_SANDBOX_*"
        value = err.get("input")
        shown = f" (got {value!r})" if loc and isinstance(value, str | int | float) else ""
        parts.append(f"{name}: {err.get('msg', 'invalid')}{shown}")
    return "invalid sandbox settings: " + "; ".join(parts)
