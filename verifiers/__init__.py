"""Pure, rule-based judges: each turns one completion plus its reference into a `Verdict`.

Verifiers never import the service; they may call into `sandboxes`.
"""

from verifiers.verdict import UNDECIDED_STATUSES, Attempt, Status, Verdict

__all__ = ["Attempt", "Status", "Verdict", "UNDECIDED_STATUSES"]
