# CityHub: one image for the API (`serve`), the worker (`worker`), the migrations (`db upgrade`)
# and the provider simulators (`simulate`). Two stages: the first builds the wheel, the second
# installs that wheel alone (no source tree, no build tools) and runs as an unprivileged user.
# Build: docker build -t cityhub .      Run: see compose.yaml and docs/operations.md.

FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --disable-pip-version-check build==1.2.2
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m build --wheel --outdir /dist

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CITYHUB_HOST=0.0.0.0 \
    CITYHUB_DATA=/var/lib/cityhub
RUN groupadd --system --gid 10001 cityhub \
    && useradd --system --uid 10001 --gid cityhub --home-dir /var/lib/cityhub --create-home \
       --shell /usr/sbin/nologin cityhub
COPY --from=build /dist/*.whl /tmp/wheels/
RUN pip install --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels
USER cityhub:cityhub
WORKDIR /var/lib/cityhub
# The API, and the worker's /metrics (CITYHUB_WORKER_METRICS_PORT).
EXPOSE 8000 8200
ENTRYPOINT ["cityhub"]
CMD ["serve"]
