"""Configuration of the service, read from ``AHA_*`` environment variables."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sandboxes.config import SandboxSettings


class Settings(BaseSettings):
    """Every knob of the service. Each field is set by the environment variable ``AHA_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="AHA_", extra="ignore")

    redis_url: str | None = Field(None, description="Redis URL for the shared result cache; unset = in-process")
    cache_ttl_s: int = Field(7 * 24 * 3600, ge=1, description="How long a cached verdict lives")
    memory_cache_items: int = Field(200_000, ge=0, description="Capacity of the in-process cache (0 disables)")
    redis_timeout_s: float = Field(0.25, gt=0, description="Socket timeout of Redis calls")
    redis_retry_s: float = Field(5.0, gt=0, description="After a Redis failure, how long to go without it")

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, description="Verifier processes")
    item_timeout_s: float = Field(10.0, gt=0, description="Default hard deadline of one verifier call")
    max_item_timeout_s: float = Field(300.0, gt=0, description="Cap on a verifier's own budget (code items)")
    worker_memory_mb: int = Field(4096, ge=64, description="Address-space limit of each verifier process")

    max_items: int = Field(4096, ge=1, description="Items in one request")
    max_completion_chars: int = Field(1_000_000, ge=1, description="Characters in one completion")
    max_reference_chars: int = Field(10_000_000, ge=1, description="Characters in one reference (JSON form)")
    max_prompt_chars: int = Field(1_000_000, ge=1, description="Characters in one prompt")
    max_body_bytes: int = Field(256 * 1024 * 1024, ge=1, description="Bytes in one request body")
    max_queue: int = Field(20_000, ge=1, description="Items in flight before new requests get 429")

    custom_tasks: dict[str, str] = Field(
        default_factory=dict,
        description='Extra tasks as JSON {"task": "module.path"}; the module follows verifiers.protocol',
    )
    log_level: str = Field("info", description="Log level of the service")

    # -- security: who may call, and what a caller may ask for -------------------------------------------------
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="API keys accepted as `Authorization: Bearer KEY`, comma-separated"
    )
    api_keys_file: str | None = Field(
        None, description="File of accepted keys, one `sha256:<hex digest>` (or a plain key) per line; # comments"
    )
    require_api_key: bool = Field(
        False, description="Refuse to start without an API key, whatever the bind address (the Docker image sets it)"
    )
    run_code: bool = Field(True, description="Serve `POST /run_code` (0 for deployments that only score)")
    max_json_depth: int = Field(
        64, ge=2, le=400, description="Nesting depth of any JSON value in a request (references, options, labels)"
    )
    run_code_max_timeout_s: float = Field(30.0, gt=0, description="Cap on `/run_code` compile and run timeouts")
    run_code_max_memory_mb: int = Field(2048, ge=16, description="Cap on `/run_code` `memory_limit_MB`")
    run_code_default_memory_mb: int = Field(1024, ge=16, description="`/run_code` memory when the caller sets none")
    run_code_max_output_bytes: int = Field(
        8 << 20, ge=1024, description="Cap on each of a `/run_code` run's stdout and stderr"
    )
    run_code_max_files: int = Field(64, ge=0, description="Files a `/run_code` call may send or fetch")
    run_code_max_file_bytes: int = Field(16 << 20, ge=1, description="Bytes of one file sent to or fetched from a run")
    run_code_max_fetch_bytes: int = Field(
        32 << 20, ge=1, description="Bytes of all files one `/run_code` call fetches together"
    )
    run_code_box_mb: int = Field(256, ge=1, description="Bytes a `/run_code` program may write to its /box")
    run_code_concurrency: int = Field(
        0, ge=0, description="`/run_code` calls run at once (0: half the sandbox slots, at least 1); more get 429"
    )
    request_read_timeout_s: float = Field(
        30.0, gt=0, description="Request headers, and then the body, must each arrive within this time"
    )
    # Its own `AHA_SANDBOX_*` variables (sandboxes.config), validated here, at start-up: a malformed one stops it.
    sandbox: SandboxSettings = Field(
        default_factory=SandboxSettings.from_env, description="The sandbox's settings (`AHA_SANDBOX_*`)"
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value
