"""``aha serve``: the HTTP service."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from service.api.app import create_app
from service.api.auth import KeyFileError, is_loopback
from service.api.protocol import protocol_with_deadline
from service.settings import Settings


def _check_keys(keyed: bool, settings: Settings, host: str) -> None:
    """Refuse to start without a key when one is required; warn when serving beyond loopback without one."""
    if not keyed and settings.require_api_key:
        raise SystemExit("aha serve: AHA_REQUIRE_API_KEY is set but no key is: set AHA_API_KEYS or AHA_API_KEYS_FILE")
    if not keyed and not is_loopback(host):
        logging.getLogger("aha.serve").warning(
            "serving on %s WITHOUT authentication: anyone who reaches this port can score and run code; "
            "set AHA_API_KEYS or AHA_API_KEYS_FILE",
            host,
        )


def run(args: argparse.Namespace) -> int:
    """``aha serve``: the HTTP app under uvicorn, with embedded defaults (``--ray``: as a Ray Serve application)."""
    if getattr(args, "ray", False):
        return _run_ray(args)
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(settings)
    except KeyFileError as exc:
        raise SystemExit(f"aha serve: {exc}") from exc
    keyed: bool = app.state.keyed
    _check_keys(keyed, settings, args.host)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        timeout_keep_alive=5,
        timeout_graceful_shutdown=30,
        http=protocol_with_deadline(settings.request_read_timeout_s),
    )
    return 0


def _run_ray(args: argparse.Namespace) -> int:
    """``aha serve --ray``: the same app as replicas of a Ray Serve deployment (service/scale/serve.py)."""
    from service.scale import RayMissing, aha_environment, require_ray

    try:
        require_ray("aha serve --ray")
    except RayMissing as exc:
        raise SystemExit(f"aha serve: {exc}") from exc
    from pydantic import ValidationError

    from service.api.auth import key_digests
    from service.scale.serve import ServeOptions, serve_forever

    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        keyed = bool(key_digests(settings.api_keys, settings.api_keys_file))
    except KeyFileError as exc:
        raise SystemExit(f"aha serve: {exc}") from exc
    _check_keys(keyed, settings, args.host)
    try:
        options = ServeOptions(
            num_replicas=args.replicas,
            min_replicas=args.min_replicas,
            max_replicas=max(args.max_replicas, args.min_replicas),
            target_ongoing_requests=args.target_ongoing_requests,
            num_cpus=args.replica_cpus,
            max_replicas_per_node=args.max_replicas_per_node or None,
            # The replicas may start on other machines: this shell's AHA_* settings go with them.
            env=aha_environment(),
        )
    except ValidationError as exc:
        raise SystemExit(f"aha serve --ray: {exc}") from exc
    return serve_forever(options, args.host, args.port, args.ray_address)
