# campaign-runner: the worker loop in a small image, as a non-root user.
# Build: docker build -t campaign-runner .
# Run:   docker run -d --name campaign-runner --env-file .env --restart unless-stopped \
#            -v campaign-runner:/var/lib/campaign-runner campaign-runner

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY campaign_runner ./campaign_runner
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir /src

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/campaign-runner runner
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LOG_FORMAT=json
# The state directory: the embedded store, the outbox, the heartbeat and the lock
# default to files in the working directory. Keep it on a volume.
WORKDIR /var/lib/campaign-runner
USER 10001
# SIGTERM finishes the emails in flight; give it time with `docker stop -t 90`.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["campaign-runner", "health"]
ENTRYPOINT ["campaign-runner"]
