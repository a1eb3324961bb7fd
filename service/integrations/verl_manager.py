"""A verl 0.9 reward-loop manager that scores the samples of a reward worker in one Aha request.

verl 0.9's trainer computes rule-based rewards in its reward loop: each ``RewardLoopWorker`` calls its manager's
``run_single`` once per sample, either for all of a batch's samples at once (``compute_rm_score`` →
``compute_score_batch``) or as each rollout finishes (the agent loop's streaming reward, verl's default without a
reward model). ``AhaRewardManager`` queues what arrives within ``linger_ms`` and sends it as one ``/v1/score``
request over a client it keeps: for a whole batch, one request per worker per step; streaming, one request per
window of rollouts that finished together, instead of one per sample. In a verl config::

    reward:
      num_workers: 1                      # one request per step (N workers: N requests, in parallel)
      reward_manager:
        source: importlib
        name: AhaRewardManager
        module:
          path: pkg://service.integrations.verl_manager
      reward_kwargs:                      # added with +reward.reward_kwargs.url=… on the command line
        url: http://127.0.0.1:8000
        profile: r1-zero

``reward_kwargs`` takes the keys of ``service.integrations.verl.Settings`` plus ``linger_ms`` (default 20) and
``max_batch`` (default 4096); an unknown key raises when the manager is built. The prompt is decoded with its
special tokens, so a chat template that opens ``<think>`` is seen by the format and language components.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import OmegaConf
from verl import DataProto
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from service.integrations.client import AsyncAhaClient, RetryPolicy, raise_setup_errors
from service.integrations.verl import Settings, as_verl, item

MANAGER_KEYS = ("linger_ms", "max_batch")


@dataclass
class _Pending:
    """Samples waiting for the next request, with the futures their ``run_single`` calls await."""

    items: list[dict[str, Any]] = field(default_factory=list)
    futures: list[asyncio.Future] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


def _reward_kwargs(config: Any) -> dict[str, Any]:
    reward = config.get("reward") if hasattr(config, "get") else None
    raw = reward.get("reward_kwargs") if reward is not None else None
    if raw is None:
        return {}
    return OmegaConf.to_container(raw, resolve=True) if OmegaConf.is_config(raw) else dict(raw)


class AhaRewardManager(RewardManagerBase):
    """verl reward-loop manager backed by Aha; see the module docstring."""

    def __init__(
        self,
        config: Any,
        tokenizer: Any,
        compute_score: Any = None,
        reward_router_address: str | None = None,
        reward_model_tokenizer: Any = None,
    ) -> None:
        super().__init__(config, tokenizer, compute_score)
        raw = _reward_kwargs(config)
        self.settings = Settings.make(raw, ignore=frozenset(MANAGER_KEYS))
        # A reward step waits this much once; a streaming rollout batches the rollouts that finish this close.
        self.linger_s = float(raw.get("linger_ms", 20)) / 1000.0
        self.max_batch = int(raw.get("max_batch", 4096))
        if self.linger_s < 0 or self.max_batch < 1:
            raise ValueError("linger_ms must be >= 0 and max_batch >= 1")
        self.requests = 0  # requests sent, for logs and tests
        self.retry = RetryPolicy()
        self._pending = _Pending()
        self._client: AsyncAhaClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_pending=_Pending(), _client=None, _client_loop=None, loop=None)
        return state

    def _http(self) -> AsyncAhaClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:  # an httpx.AsyncClient belongs to one loop
            self._client = AsyncAhaClient(
                self.settings.url, timeout_s=self.settings.timeout_s, retry=self.retry, api_key=self.settings.api_key
            )
            self._client_loop = loop
        return self._client

    def _decode(self, data: DataProto) -> tuple[str, str, Any, Mapping[str, Any]]:
        sample = data[-1]  # multi-sequence outputs are scored on their last sequence, as verl's managers do
        prompt_ids = sample.batch["prompts"]
        response_ids = sample.batch["responses"]
        mask = sample.batch["attention_mask"]
        prompt_len, response_len = prompt_ids.shape[-1], response_ids.shape[-1]
        prompt = self.tokenizer.decode(prompt_ids[mask[:prompt_len].bool()], skip_special_tokens=False)
        response = self.tokenizer.decode(response_ids[: int(mask[-response_len:].sum())], skip_special_tokens=True)
        ground_truth = sample.non_tensor_batch["reward_model"]["ground_truth"]
        extra_info = sample.non_tensor_batch.get("extra_info") or {}
        return prompt, response, ground_truth, extra_info

    async def run_single(self, data: DataProto) -> dict[str, Any]:
        """One sample's ``{"reward_score", "reward_extra_info"}``, scored together with its neighbours."""
        # Decoded here, not in a thread: every sample a worker is handed enqueues in the same loop turn.
        prompt, response, ground_truth, extra_info = self._decode(data)
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        pending = self._pending
        pending.items.append(item(len(pending.items), response, ground_truth, extra_info, self.settings, prompt))
        pending.futures.append(future)
        if len(pending.items) >= self.max_batch:
            self._flush()
        elif pending.timer is None:
            pending.timer = loop.call_later(self.linger_s, self._flush)
        result = await future
        return {"reward_score": result["score"], "reward_extra_info": result}

    def _flush(self) -> None:
        pending, self._pending = self._pending, _Pending()
        if pending.timer is not None:
            pending.timer.cancel()
        if pending.items:
            asyncio.get_running_loop().create_task(self._send(pending))

    async def _send(self, pending: _Pending) -> None:
        self.requests += 1
        try:
            response = await self._http().score(pending.items, **self.settings.request())
            raise_setup_errors(response["results"])
            results = [as_verl(r, self.settings.components) for r in response["results"]]
            if len(results) != len(pending.futures):
                raise RuntimeError(f"Aha answered {len(results)} results for {len(pending.futures)} samples")
        except Exception as exc:  # noqa: BLE001 - every waiting sample must hear of it, not hang
            for future in pending.futures:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result in zip(pending.futures, results, strict=True):
            if not future.done():
                future.set_result(result)
