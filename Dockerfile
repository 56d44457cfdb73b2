# One image for every service; the compose file picks the command (python -m <module>).
# Dependencies come from requirements.lock (exact versions and hashes), never resolved at
# build time, so an image built today and one built next month run the same code.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The lock alone first: this layer is rebuilt only when the lock changes, not the code.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml ./
COPY shared ./shared
COPY ingest ./ingest
COPY enricher ./enricher
COPY notifier ./notifier
# The operators' status command: docker compose exec notifier python -m ops.status
COPY ops ./ops
COPY sandbox ./sandbox
COPY devstack ./devstack
# --no-deps: everything the project needs is already installed from the lock.
RUN pip install --no-deps . && pip check

# The runtime stage: the virtualenv only, no build tree, no pip cache, not root.
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
COPY --from=build /opt/venv /opt/venv
RUN useradd --system --uid 10001 --no-create-home pipeline \
    && mkdir /spool && chown pipeline /spool
WORKDIR /app
USER pipeline
CMD ["python", "-m", "ingest"]
