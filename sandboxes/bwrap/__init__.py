"""The bubblewrap backend: namespaces, a read-only minimal root, rlimits and a per-run cgroup.

- `mechanism.py`: what every run is made of (bwrap's arguments, rlimits, status documents, the pipe pump);
- `launchers.py`: processes made ahead of a run, idle in a fresh cgroup, that exec bwrap on request;
- `cold.py`: a fresh bwrap sandbox per run;
- `warm.py`: long-lived boxes, each run a clone in fresh namespaces;
- `sandbox.py`: `BwrapSandbox`, which takes a slot and picks the path.
"""

from __future__ import annotations

from sandboxes.bwrap.mechanism import bwrap_version
from sandboxes.bwrap.sandbox import BwrapSandbox

__all__ = ["BwrapSandbox", "bwrap_version"]
