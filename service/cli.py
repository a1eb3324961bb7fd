"""The ``aha`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.auth import KeyFileError, is_loopback
    from service.http_protocol import protocol_with_deadline
    from service.settings import Settings

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


def _json_arg(text: str) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _score(args: argparse.Namespace) -> int:
    from service.batch import BatchOptions, engine_scorer, http_scorer, score_file
    from service.settings import Settings

    in_path = Path(args.input)
    out_path = Path(args.output) if args.output else in_path.with_suffix(".scored.jsonl")
    if not args.resume and out_path.exists():
        out_path.unlink()
    opts = BatchOptions(
        profile=args.profile,
        weights=args.weights or {},
        options=args.options or {},
        advantage=args.advantage,
        batch_size=args.batch_size,
        use_cache=not args.no_cache,
    )
    scorer, close = http_scorer(args.url, args.api_key) if args.url else engine_scorer(Settings())
    try:
        summary = score_file(in_path, out_path, scorer, opts, progress=not args.quiet)
    finally:
        close()
    print(json.dumps({"output": str(out_path), **summary}))
    return 0


def _grade(args: argparse.Namespace) -> int:
    from service.batch import BatchOptions, engine_scorer, http_scorer, score_file
    from service.grade import collect, format_table, math_equivalent, read_jsonl, report
    from service.settings import Settings

    in_path = Path(args.input)
    scored = Path(args.scored) if args.scored else in_path.with_suffix(".graded.jsonl")
    ks = sorted({int(k) for k in args.k.split(",") if k.strip()})
    if any(k < 1 for k in ks):
        raise SystemExit("aha grade: every k must be >= 1")
    scorer, close = http_scorer(args.url, args.api_key) if args.url else engine_scorer(Settings())
    try:
        score_file(in_path, scored, scorer, BatchOptions(profile="accuracy", advantage="none"), not args.quiet)
    finally:
        close()
    rep = report(collect(read_jsonl(in_path), read_jsonl(scored)), ks, math_equivalent)
    print(format_table(rep))
    if args.report:
        Path(args.report).write_text(json.dumps(rep, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="aha", description="Rule-based rewards for RL on reasoning models")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_serve)
    score = sub.add_parser("score", help="score a JSONL file of items (one POST /v1/score item per line)")
    score.add_argument("input", help="input JSONL")
    score.add_argument("-o", "--output", help="output JSONL (default: INPUT.scored.jsonl)")
    score.add_argument("--url", help="score through a running service instead of in-process")
    score.add_argument("--api-key", help="key for --url (default: AHA_API_KEY)")
    score.add_argument("--profile", default="accuracy")
    score.add_argument("--weights", type=_json_arg, help="inline weights, e.g. '{\"format\": 0.5}'")
    score.add_argument("--options", type=_json_arg, help='options by component, e.g. \'{"format": {"layout": "r1"}}\'')
    score.add_argument("--advantage", choices=["grpo", "center", "none"], default="grpo")
    score.add_argument("--batch-size", type=int, default=256)
    score.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")
    score.add_argument("--no-resume", dest="resume", action="store_false", help="start over instead of resuming")
    score.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    score.set_defaults(func=_score)
    grade = sub.add_parser("grade", help="pass@1, pass@k and cons@k over k samples per problem (group)")
    grade.add_argument("input", help="JSONL of items; `group` names the problem, `source` the data set")
    grade.add_argument("--k", default="1", help="comma-separated k values, e.g. 1,8,64")
    grade.add_argument("--url", help="score through a running service instead of in-process")
    grade.add_argument("--api-key", help="key for --url (default: AHA_API_KEY)")
    grade.add_argument("--scored", help="where the per-sample results go (default: INPUT.graded.jsonl; resumable)")
    grade.add_argument("--report", help="write the JSON report here")
    grade.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    grade.set_defaults(func=_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aha`` script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
