"""Aha on a Ray cluster: ``serve.py`` (a Ray Serve application of the HTTP app, and a handle client for trainers in
the cluster) and ``data.py`` (``aha score --ray``: a JSONL file scored by an actor pool of engines with Ray Data).

Ray is an optional extra (``pip install 'aha[ray]'``). Nothing outside this package imports Ray, and this module
does not either: a face that wants Ray calls ``require_ray`` first, which says what to install when it is missing.
"""

from __future__ import annotations

import importlib.util
import os

EXTRA_HINT = "pip install 'aha[ray]' (or, in a checkout, pip install -e '.[ray]')"


class RayMissing(RuntimeError):
    """Ray (with Serve and Data) is not installed, so a ``--ray`` face cannot run."""


def require_ray(feature: str) -> None:
    """Raise ``RayMissing`` naming the extra to install when ``ray[serve,data]`` cannot be imported."""
    for module in ("ray", "ray.serve", "ray.data"):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent missing, or a module set to None in sys.modules
            found = False
        if not found:
            raise RayMissing(f"{feature} needs Ray Serve and Ray Data, which are not installed: {EXTRA_HINT}")


def aha_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Every ``AHA_*`` variable of this process, overlaid with ``extra``: what a replica or actor is started with.

    Ray workers on other nodes do not inherit the launching shell's environment, so the settings that shape the
    engine (``AHA_REDIS_URL``, keys, limits, sandbox) travel with the deployment as its runtime environment.
    """
    env = {key: value for key, value in os.environ.items() if key.startswith("AHA_")}
    env.update(extra or {})
    return env
