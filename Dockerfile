# One image for gturret, gturret-hq and gturret-keys (docs/containers.md).
#
#   docker build -t gturret .                      # wheels from PyPI, on python:3.11-slim
#   make image                                     # this project's machines: wheels built
#                                                  # on the host, a Debian base of its own
#
# BASE is any image with python3 and its venv module at the same path in both stages.
# A build/wheels folder in the context (what `make image` writes) is installed with
# --no-index; without one, pip fetches gturret's dependencies in the build stage. The
# runtime stage gets the virtual environment only: no compiler, no wheels, no pip cache.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
LABEL gturret.stage=build
COPY . /src
RUN python3 -m venv /opt/gturret \
 && if ls /src/build/wheels/*.whl >/dev/null 2>&1; then \
        /opt/gturret/bin/pip install --no-cache-dir --no-index --find-links /src/build/wheels gturret; \
    else \
        /opt/gturret/bin/pip install --no-cache-dir /src; \
    fi \
 && /opt/gturret/bin/pip uninstall --yes pip

FROM ${BASE}
ARG VERSION=0.1.0
# The repository the image was built from (`make image` passes git's origin, if any).
ARG SOURCE=""
LABEL org.opencontainers.image.title="gturret" \
      org.opencontainers.image.description="A gevent-powered OCT load-testing turret and its HQ" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
# A fixed numeric user, so Kubernetes' runAsNonRoot can check it; /out for reports.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/gturret gturret \
 && mkdir /out && chown gturret:gturret /out
COPY --from=build /opt/gturret /opt/gturret
ENV PATH=/opt/gturret/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/gturret
CMD ["gturret", "--help"]
