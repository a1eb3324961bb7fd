"""The docker backend: single-use locked-down containers from a warm pool, driven through the `docker` SDK.

- `settings.py`: `AHA_SANDBOX_DOCKER_*` settings and the image of each language;
- `containers.py`: a container's shape and create arguments, the program's command and environment (pure);
- `archive.py`: the program dir in, what a run wrote back out (pure);
- `execs.py`: one exec over the hijacked socket, and how its outcome is judged;
- `pool.py`: warm containers per shape;
- `sandbox.py`: `DockerSandbox`, one run from slot to verdict;
- `report.py`: `docker_report`, what `isolation_report("docker")` says.
"""

from __future__ import annotations

from sandboxes.docker.archive import box_archive, extract_box_archive, member_path
from sandboxes.docker.containers import (
    BOX,
    LABEL,
    OWNER_LABEL,
    ContainerShape,
    container_argv,
    container_kwargs,
    exec_env,
    owner,
)
from sandboxes.docker.errors import ContainerGone, EngineUnavailable, SandboxSetupError
from sandboxes.docker.execs import GATE, ExecOutcome, FrameDecoder, classify, exec_in, gated, oom_kills, pump
from sandboxes.docker.report import docker_report
from sandboxes.docker.sandbox import DockerSandbox
from sandboxes.docker.settings import IMAGE_DIRS, IMAGES_DIR, DockerSettings, dockerfile, image_for

__all__ = [
    "BOX",
    "GATE",
    "IMAGES_DIR",
    "IMAGE_DIRS",
    "LABEL",
    "OWNER_LABEL",
    "ContainerGone",
    "ContainerShape",
    "DockerSandbox",
    "DockerSettings",
    "EngineUnavailable",
    "ExecOutcome",
    "FrameDecoder",
    "SandboxSetupError",
    "box_archive",
    "classify",
    "container_argv",
    "container_kwargs",
    "docker_report",
    "dockerfile",
    "exec_env",
    "exec_in",
    "extract_box_archive",
    "gated",
    "image_for",
    "member_path",
    "oom_kills",
    "owner",
    "pump",
]
