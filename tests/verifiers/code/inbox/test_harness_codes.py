"""The test runner's per-test codes are the judge's vocabulary: it writes no code `HarnessCode` does not name, and
each harness code the judge keeps as a per-test verdict is one (`CaseVerdict`)."""

from __future__ import annotations

import re

from verifiers.code.inbox import SCRIPTS, HarnessCode
from verifiers.verdict import CaseVerdict


def test_the_runner_writes_only_named_codes() -> None:
    written = set(re.findall(r'"v":\s*"([a-z_]+)"', SCRIPTS.source("test_runner")))
    assert written, "no codes found: the pattern no longer matches the runner"
    assert written <= {code.value for code in HarnessCode}, written - {code.value for code in HarnessCode}


def test_codes_kept_as_verdicts_are_case_verdicts() -> None:
    # RETURNED and SETUP_ERROR are translated by the judge (a comparison, sandbox_error); the rest pass through.
    passed_through = set(HarnessCode) - {HarnessCode.RETURNED, HarnessCode.SETUP_ERROR}
    assert {code.value for code in passed_through} <= {v.value for v in CaseVerdict}
