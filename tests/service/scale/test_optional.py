"""Ray is an optional extra: without it everything else works and ``--ray`` says what to install; and the Serve
config for ``serve deploy`` builds the application it describes. No cluster is started here."""

from __future__ import annotations

import asyncio
import json
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

# Runs the CLI with Ray unimportable: `import ray` raises ImportError, as on a machine without the extra.
WITHOUT_RAY = (
    "import sys; sys.modules['ray'] = None; "
    "from service.cli import main; code = main(sys.argv[1:]); "
    "assert not any(m == 'ray' or m.startswith('ray.') for m, v in sys.modules.items() if v is not None), "
    "'something imported Ray'; sys.exit(code)"
)


def without_ray(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AHA_LOG_LEVEL": "warning", "AHA_WORKERS": "1"}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_RAY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_without_ray_aha_score_works_and_ray_flags_name_the_extra(tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": "a", "task": "math", "completion": "\\boxed{2}", "reference": "2"}) + "\n")
    plain = without_ray("score", "-q", str(src), "-o", str(out))
    assert plain.returncode == 0, plain.stderr
    assert json.loads(out.read_text())["status"] == "correct"
    for command in (["score", "-q", str(src), "-o", str(out), "--ray"], ["serve", "--ray", "--port", "1"]):
        refused = without_ray(*command)
        assert refused.returncode != 0
        assert "needs Ray Serve and Ray Data, which are not installed: pip install 'aha[ray]'" in refused.stderr
        assert "Traceback" not in refused.stderr


def test_the_serve_deploy_config_builds_what_it_says() -> None:
    from ray._common.utils import import_attr
    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load((ROOT / "deploy" / "ray-serve.yaml").read_text())
    ServeDeploySchema.model_validate(config)  # what `serve deploy` checks first
    (spec,) = config["applications"]
    # What Serve's controller does with import_path and args.
    app = call_user_app_builder_with_args_if_necessary(import_attr(spec["import_path"]), spec["args"])
    deployment = app._bound_deployment
    scaling = deployment._deployment_config.autoscaling_config
    assert (scaling.min_replicas, scaling.max_replicas, scaling.target_ongoing_requests) == (2, 8, 2.0)
    assert deployment._replica_config.max_replicas_per_node == 1
    actor = deployment.ray_actor_options
    assert actor["num_cpus"] == 8 and actor["runtime_env"]["env_vars"]["AHA_WORKERS"] == "8"
    assert actor["runtime_env"]["env_vars"]["AHA_REDIS_URL"] == spec["args"]["env"]["AHA_REDIS_URL"]
    with pytest.raises(ValueError, match="max_replicas"):
        call_user_app_builder_with_args_if_necessary(import_attr(spec["import_path"]), {"min_replicas": 3})


def test_readiness_follows_the_pool_serve_health_checks() -> None:
    # AhaReplica.check_health raises exactly when readiness_problem names one: here on a real engine whose
    # forkserver is killed, as the OOM killer would, until its pool has healed.
    from service.engine import build_engine
    from service.scale.serve import readiness_problem
    from service.settings import Settings

    async def run() -> list[str | None]:
        engine = build_engine(Settings(workers=1))
        seen: list[str | None] = []
        try:
            await asyncio.to_thread(engine.pool.wait_ready, 60)
            seen.append(readiness_problem(engine))
            os.kill(multiprocessing.forkserver._forkserver._forkserver_pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while (problem := readiness_problem(engine)) is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            seen.append(problem)
            while (problem := readiness_problem(engine)) is not None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            seen.append(problem)
        finally:
            await engine.close()
        return seen

    assert readiness_problem(None) == "the engine has not started"
    before, broken, healed = asyncio.run(run())
    assert before is None and healed is None
    assert broken is not None and broken.startswith("verifier pool is down")
