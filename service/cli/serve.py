"""``aha serve``: the HTTP service."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from service.api.app import create_app
from service.api.auth import KeyFileError, is_loopback
from service.api.protocol import protocol_with_deadline
from service.settings import Settings


def run(args: argparse.Namespace) -> int:
    """``aha serve``: the HTTP app under uvicorn, with embedded defaults."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(settings)
    except KeyFileError as exc:
        raise SystemExit(f"aha serve: {exc}") from exc
    keyed: bool = app.state.keyed
    if not keyed and settings.require_api_key:
        raise SystemExit("aha serve: AHA_REQUIRE_API_KEY is set but no key is: set AHA_API_KEYS or AHA_API_KEYS_FILE")
    if not keyed and not is_loopback(args.host):
        logging.getLogger("aha.serve").warning(
            "serving on %s WITHOUT authentication: anyone who reaches this port can score and run code; "
            "set AHA_API_KEYS or AHA_API_KEYS_FILE",
            args.host,
        )
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
