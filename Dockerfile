# mixpeek-mock: the bucket-sync API on SQLite, in one small image.
#   docker build -t mixpeek-mock .
#   docker run -p 8000:8000 -v mixpeek-data:/data -e MIXPEEK_MOCK_API_KEY=sk_local_dev mixpeek-mock
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/mixpeek-mock
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mixpeek \
    && mkdir -p /data \
    && chown mixpeek /data

ENV PATH=/opt/venv/bin:$PATH \
    MIXPEEK_MOCK_DATABASE_URL=sqlite:////data/mixpeek-mock.db \
    MIXPEEK_MOCK_HOST=0.0.0.0 \
    PORT=8000

USER mixpeek
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["mixpeek-mock", "healthcheck"]
CMD ["mixpeek-mock", "serve"]
