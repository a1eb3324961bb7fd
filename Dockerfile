# One image: the Aha API with every sandbox toolchain. Build (BuildKit, the default builder of Docker >= 23):
#   docker build -t aha .
# On a network whose HTTPS goes through an intercepting proxy, hand pip the proxy's CA as a build secret; it is
# mounted for that one RUN and never stored in a layer:
#   docker build --network host --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t aha .
# deploy/engine.sh images does exactly that. See docs/deployment.md for how to run it.
FROM debian:bookworm-slim

# Debian 12's own Python 3.11 (the one ./run uses on Debian 12), and the toolchains the sandbox runs: the same
# packages ./run installs on a host, so programs see the same compilers and runtimes in and out of the image.
# redis-tools only for health checks; tini reaps the sandbox's orphans when the service is pid 1.
RUN apt-get update \
    && mkdir -p /usr/share/man/man1 \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       python3 python3-venv ca-certificates tini \
       bubblewrap util-linux gcc g++ libc6-dev default-jdk-headless nodejs golang-go rustc python3-numpy redis-tools \
    && rm -rf /var/lib/apt/lists/*

# The service lives in its own venv: Debian's python3 stays as apt left it, and the sandbox (which mounts /usr,
# never /opt) sees only Debian's packages, as on a host.
RUN python3 -m venv /opt/aha
ENV PATH=/opt/aha/bin:$PATH LANG=C.UTF-8

# The dependencies first, from pyproject.toml alone (a layer that only a change of dependencies rebuilds), then the
# package. The checkout is bound for those steps, never copied: the image holds the installed package only, so
# nothing imports a stray source tree from the working directory.
RUN --mount=type=bind,source=pyproject.toml,target=/tmp/deps/pyproject.toml --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && cd /tmp && cp -r deps /tmp/stub && touch /tmp/stub/README.md \
    && pip install --no-cache-dir --disable-pip-version-check /tmp/stub && pip uninstall -y -q aha && rm -rf /tmp/stub
RUN --mount=type=bind,target=/src,rw --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && pip install --no-cache-dir --disable-pip-version-check --no-deps /src && pip check
WORKDIR /var/lib/aha

ENV AHA_LOG_LEVEL=info
# Program dirs live on the image's own filesystem, which allows exec: Docker mounts /dev/shm (the host default)
# noexec, and a compiled program there cannot start. Compose puts a tmpfs with exec here.
ENV AHA_SANDBOX_WORK_DIR=/var/lib/aha/work
RUN mkdir -p /var/lib/aha/work && chmod 0711 /var/lib/aha/work
# The image serves on every interface, so it refuses to start keyless: pass AHA_API_KEYS (or AHA_API_KEYS_FILE),
# or set AHA_REQUIRE_API_KEY=0 for a network you trust.
ENV AHA_REQUIRE_API_KEY=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
ENTRYPOINT ["tini", "--"]
CMD ["aha", "serve", "--host", "0.0.0.0", "--port", "8000"]
