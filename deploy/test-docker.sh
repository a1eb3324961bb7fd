#!/usr/bin/env bash
# `./run test-docker [pytest args]`: a Docker engine (the one DOCKER_HOST names, else a private dockerd), every
# image built, then the deployment tests (tests/deploy, the docker backend's engine tests, tests/test_deployment.py).
# When no engine can be had at all it says why and exits 0: the rest of the suite (`./run test`) does not need one.
set -uo pipefail
cd "$(dirname "$0")/.."

t0=$SECONDS
answered_before=0
deploy/engine.sh status 2>/dev/null | grep -q '^engine: unix' && answered_before=1
if ! env_line="$(deploy/engine.sh start)"; then
  echo "test-docker: SKIPPED, no Docker engine can be started here (reason above); nothing was tested" >&2
  exit 0
fi
eval "$env_line"
started_private=0  # only an engine this run started is stopped at its end
[ "$answered_before" = 0 ] && [[ "$DOCKER_HOST" == "unix://${AHA_ENGINE_DIR:-/var/tmp/aha-engine}/docker.sock" ]] \
  && started_private=1
stop_engine() {
  if [ "$started_private" = 1 ] && [ "${AHA_KEEP_ENGINE:-0}" != 1 ]; then deploy/engine.sh stop; fi
}
trap stop_engine EXIT

echo "test-docker: engine at $DOCKER_HOST; building images" >&2
deploy/engine.sh images || exit 1
compose="$(deploy/engine.sh compose)" || exit 1
echo "test-docker: images built in $((SECONDS - t0)) s; compose: $compose" >&2

AHA_DOCKER_TESTS=1 AHA_COMPOSE="$compose" .venv/bin/python -m pytest -ra -p no:cacheprovider \
  tests/deploy tests/sandboxes/test_docker.py tests/test_deployment.py "$@"
rc=$?
echo "test-docker: done in $((SECONDS - t0)) s (pytest exit $rc)" >&2
exit $rc
