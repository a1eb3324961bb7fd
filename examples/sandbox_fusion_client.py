"""The ``sandbox-fusion`` package's own client against Aha's SandboxFusion-compatible /run_code.

verl's SandboxFusion reward uses the same endpoint: ``sandbox_fusion.url=http://127.0.0.1:8000/run_code``, with
``sandbox_fusion.max_concurrent`` at most the server's ``AHA_RUN_CODE_CONCURRENCY`` (verl counts a 429 as a failed
test rather than retrying).

Run: ``python examples/sandbox_fusion_client.py [--url http://127.0.0.1:8000]``.
"""

from __future__ import annotations

import argparse

from sandbox_fusion import RunCodeRequest, run_code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    request = RunCodeRequest(code="print(sum(map(int, input().split())))", stdin="1 2\n", language="python")
    response = run_code(request, endpoint=args.url)
    print(response.status, repr(response.run_result.stdout))


if __name__ == "__main__":
    main()
