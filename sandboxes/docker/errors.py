"""What goes wrong on our side of a docker run (never a verdict on the program)."""


class EngineUnavailable(Exception):
    """The Docker engine cannot be reached (or the client cannot be built)."""


class SandboxSetupError(Exception):
    """The container could not be prepared for a run, or its results could not be taken out of it."""


class ContainerGone(Exception):
    """The container stopped before the program started (engine restart, init killed); another one will do."""
