# vocode-receiver: `docker build -t vocode-receiver .`
#
# BASE_IMAGE is any Debian-like image with python3 (3.11 or newer) and its venv module on
# PATH; the default is the official slim image, the tests build it on a local Debian base.
# PIP_CERT (optional) is a CA bundle path for builds behind a TLS-inspecting proxy; mount
# the file into the build (e.g. `buildah bud -v /etc/ssl/certs/ca-certificates.crt:/host-ca.crt:ro
# --build-arg PIP_CERT=/host-ca.crt`). Empty means pip's own certificates.
ARG BASE_IMAGE=python:3.12-slim

# ---- builder: build the wheel, install it and its dependencies into /opt/venv ----------
FROM ${BASE_IMAGE} AS builder
ARG PIP_CERT=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
WORKDIR /src
RUN python3 -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY receiver ./receiver
COPY handlers ./handlers
# The postgres extra (asyncpg) is included, so that one image serves either database.
RUN /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-cache-dir "$(find /wheels -name '*.whl')[postgres]" \
    && /opt/venv/bin/pip uninstall --yes setuptools

# ---- final: the venv, a non-root user and a data volume --------------------------------
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="vocode-receiver" \
      org.opencontainers.image.description="Receives Vocode webhook events, stores them and dispatches them to handlers" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 receiver \
    && useradd --uid 10001 --gid receiver --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin receiver \
    && mkdir -p /data \
    && chown receiver:receiver /data
COPY --from=builder /opt/venv /opt/venv
# Settings come from the environment only; see the README for every RECEIVER_* variable.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RECEIVER_HOST=0.0.0.0 \
    RECEIVER_PORT=8000 \
    RECEIVER_DATABASE_URL=sqlite:////data/receiver.db
# Numeric, so that runtimes enforcing runAsNonRoot can check it.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# No curl in slim images: python asks /healthz on the port `receiver serve` listens on, else on
# the one `receiver worker` listens on, so that the same image checks both kinds of container.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import os, sys, urllib.request as u\nfor port in os.getenv('RECEIVER_PORT', '8000'), os.getenv('RECEIVER_WORKER_METRICS_PORT', '8001'):\n    try:\n        sys.exit(u.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status != 200)\n    except OSError:\n        pass\nsys.exit(1)"]
CMD ["receiver", "serve"]
