# mixpeek-mock: the bucket-sync API on SQLite, in one small image.
#   docker build -t mixpeek-mock .
#   docker run -p 127.0.0.1:8000:8000 -v mixpeek-data:/data mixpeek-mock
#   docker run -p 127.0.0.1:8000:8000 -v "$PWD/data:/data" --user "$(id -u):$(id -g)" mixpeek-mock
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/mixpeek-mock
# The server's dependencies exactly as locked (versions and hashes), in a layer of their own
# that a change to the code does not rebuild; then the project itself, resolving nothing.
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet --require-hashes -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN /opt/venv/bin/pip install --quiet --no-deps . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mixpeek \
    && mkdir -p /data \
    && chown mixpeek /data \
    # Any user may create its database here (docker run --user UID:GID on a named volume);
    # the database file itself is created readable by its owner only.
    && chmod 1777 /data

ENV PATH=/opt/venv/bin:$PATH \
    MIXPEEK_MOCK_DATABASE_URL=sqlite:////data/mixpeek-mock.db \
    MIXPEEK_MOCK_HOST=0.0.0.0 \
    PORT=8000

USER mixpeek
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# `mixpeek-mock healthcheck` asks http://127.0.0.1:$PORT/v1/health: it follows PORT (and
# MIXPEEK_MOCK_HOST), so set the port with -e PORT=..., not with serve --port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["mixpeek-mock", "healthcheck"]
CMD ["mixpeek-mock", "serve"]
