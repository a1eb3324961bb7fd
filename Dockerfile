# One image: the Aha API with every sandbox toolchain. Build: docker build -t aha .
FROM python:3.11-slim-bookworm

# Sandbox (bubblewrap) and the languages the code verifier runs; redis-tools only for health checks.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       bubblewrap util-linux gcc g++ libc6-dev default-jdk-headless nodejs golang-go rustc python3-numpy redis-tools \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY verifiers ./verifiers
COPY sandboxes ./sandboxes
RUN pip install --no-cache-dir .

ENV AHA_LOG_LEVEL=info
# The image serves on every interface, so it refuses to start keyless: pass AHA_API_KEYS (or AHA_API_KEYS_FILE),
# or set AHA_REQUIRE_API_KEY=0 for a network you trust.
ENV AHA_REQUIRE_API_KEY=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["aha", "serve", "--host", "0.0.0.0", "--port", "8000"]
