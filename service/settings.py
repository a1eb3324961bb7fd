"""Configuration of the service, read from ``AHA_*`` environment variables."""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
