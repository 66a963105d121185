# StudioLoop's container image: one image, three commands (docs/deploy.md).
#   docker build -t studioloop .
#   docker run --rm studioloop migrate          # once per release, before the rest
#   docker run -p 8000:8000 studioloop api      # the default command
#   docker run studioloop worker
# It expects DATABASE_URL (PostgreSQL 15+), SECRET_KEY and the other settings of
# .env.example in its environment; the embedded database is for one machine, not images.

# --- build: a wheel of StudioLoop and of everything it needs -------------------------------
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY migrations ./migrations
RUN pip wheel --wheel-dir /wheels .

# --- run: the wheels installed into a virtual environment, run by an unprivileged user -----
FROM python:3.11-slim-bookworm AS run

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/studioloop/bin:$PATH \
    ENVIRONMENT=production \
    DATA_DIR=/var/lib/studioloop

RUN groupadd --system --gid 10001 studioloop \
    && useradd --system --uid 10001 --gid studioloop --home-dir /var/lib/studioloop \
       --create-home --shell /usr/sbin/nologin studioloop \
    && install -d -o 10001 -g 10001 /var/lib/studioloop/files

COPY --from=build /wheels /wheels
RUN python -m venv /opt/studioloop \
    && /opt/studioloop/bin/pip install --no-index --find-links=/wheels studioloop \
    && rm -rf /wheels

USER 10001:10001
WORKDIR /var/lib/studioloop
EXPOSE 8000

# Liveness only (no database call): /ready is for the load balancer, not for restarts.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]

ENTRYPOINT ["studioloop"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
