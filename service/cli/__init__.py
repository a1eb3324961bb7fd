"""The ``aha`` command line: ``serve`` (serve.py), ``score`` (score.py), ``grade`` (grade.py)."""

from __future__ import annotations

import argparse
import json
import sys


# Each subcommand's module is imported when it runs: `aha grade` need not load uvicorn, nor `aha serve` tqdm.
def _serve(args: argparse.Namespace) -> int:
    from service.cli import serve

    return serve.run(args)


def _score(args: argparse.Namespace) -> int:
    from service.cli import score

    return score.run(args)


def _grade(args: argparse.Namespace) -> int:
    from service.cli import grade

    return grade.run(args)


def _json_arg(text: str) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="aha", description="Rule-based rewards for RL on reasoning models")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    ray = serve.add_argument_group("Ray Serve (pip install 'aha[ray]'; docs/scaling.md)")
    ray.add_argument("--ray", action="store_true", help="serve as a Ray Serve application (replicas over the cluster)")
    ray.add_argument("--ray-address", help="join the Ray cluster at this address (default: start a local one)")
    ray.add_argument("--replicas", type=int, help="a fixed number of replicas (default: autoscale between min and max)")
    ray.add_argument("--min-replicas", type=int, default=1, help="autoscaling floor (default 1)")
    ray.add_argument("--max-replicas", type=int, default=1, help="autoscaling ceiling (default 1)")
    ray.add_argument(
        "--target-ongoing-requests", type=float, default=2.0, help="autoscaling target of requests per replica"
    )
    ray.add_argument("--replica-cpus", type=float, default=1.0, help="CPUs (and verifier workers) per replica")
    ray.add_argument(
        "--max-replicas-per-node", type=int, default=1, help="replicas one node may hold (0: no limit; default 1)"
    )
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
    ray = score.add_argument_group("Ray Data (pip install 'aha[ray]'; docs/scaling.md)")
    ray.add_argument("--ray", action="store_true", help="score on a Ray cluster: an actor pool of engines")
    ray.add_argument("--ray-address", help="join the Ray cluster at this address (default: start a local one)")
    ray.add_argument("--ray-actors", type=int, help="engine actors (default: the cluster's CPUs / --ray-actor-cpus)")
    ray.add_argument("--ray-actor-cpus", type=float, default=1.0, help="CPUs (and verifier workers) per actor")
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
