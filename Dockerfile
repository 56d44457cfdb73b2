# One image for every service; the compose file picks the command.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY ingest ./ingest
COPY enricher ./enricher
COPY notifier ./notifier
COPY sandbox ./sandbox
COPY devstack ./devstack
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home pipeline \
    && mkdir /spool && chown pipeline /spool

USER pipeline
CMD ["python", "-m", "ingest"]
