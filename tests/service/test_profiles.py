"""Profile resolution: named recipes, inline weights and options, and clear errors."""

from __future__ import annotations

import pytest

from service.components import ALL_COMPONENTS
from service.profiles import PROFILES, resolve

KNOWN = set(ALL_COMPONENTS)


def test_named_profiles():
    assert dict(resolve("r1-zero", None, None, KNOWN).weights) == {"accuracy": 1.0, "format": 1.0}
    r1 = resolve("r1", None, None, KNOWN)
    assert dict(r1.weights) == {"accuracy": 1.0, "format": 1.0, "language": 1.0}
    assert r1.options["format"]["layout"] == "r1"
    dapo = resolve("dapo", None, None, KNOWN)
    assert dapo.options["accuracy"]["signed"] is True and dapo.options["overlong"]["max_length"] == 20480
    assert {"accuracy", "r1-zero", "r1", "dapo", "format"} <= set(PROFILES)


def test_inline_weights_replace_and_drop():
    r = resolve("r1-zero", {"format": 0.5, "repetition": 1.0}, None, KNOWN)
    assert dict(r.weights) == {"accuracy": 1.0, "format": 0.5, "repetition": 1.0}
    assert dict(resolve("r1-zero", {"format": 0}, None, KNOWN).weights) == {"accuracy": 1.0}


def test_inline_options_merge_over_profile_options():
    r = resolve("dapo", None, {"overlong": {"max_length": 100}}, KNOWN)
    assert dict(r.options["overlong"]) == {"max_length": 100, "buffer": 4096, "penalty_factor": 1.0}
    assert PROFILES["dapo"].options["overlong"]["max_length"] == 20480  # the profile itself is untouched


@pytest.mark.parametrize(
    "args, message",
    [
        (("nope", None, None), "unknown profile"),
        (("accuracy", {"speed": 1.0}, None), "unknown component 'speed'"),
        (("accuracy", None, {"speed": {}}), "unknown component 'speed'"),
        (("accuracy", {"accuracy": 0.0}, None), "no component"),
        (("accuracy", {"format": float("nan")}, None), "finite"),
    ],
)
def test_errors_say_what_is_wrong(args, message):
    with pytest.raises(ValueError, match=message):
        resolve(*args, KNOWN)
