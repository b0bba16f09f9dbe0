# syntax=docker/dockerfile:1
# Penvoice API image: `docker buildx build --platform linux/arm64 .` (see README "How it ships").
#
# Stage 1 runs on the build machine ($BUILDPLATFORM) and never executes target code: it
# installs the *target* platform's wheels (TARGETPLATFORM, linux/arm64 by default) from
# uv.lock, the Python analogue of the seed's CGO_ENABLED=0 cross-compile, so no emulation.
# docker/build-runtime-tree.py assembles /app; the tests run the same script.
# Stage 2 is distroless Python 3.13 (Debian 13): no shell, no package manager, uid 65532.

FROM --platform=$BUILDPLATFORM python:3.13-slim-trixie AS build
# No default here: a default would win over buildx's --platform (docker/buildx#510); the
# linux/arm64 fallback (for builders that set no TARGETPLATFORM) is in the RUNs below.
ARG TARGETPLATFORM
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# The dependency layer changes only with the lock.
COPY pyproject.toml uv.lock docker/build-runtime-tree.py ./
RUN python build-runtime-tree.py --source /src --step deps \
        --platform "${TARGETPLATFORM:-linux/arm64}" --python-version 3.13 --out /out/app
COPY README.md ./
COPY src/ src/
COPY migrations/ migrations/
RUN python build-runtime-tree.py --source /src --step app --compile \
        --platform "${TARGETPLATFORM:-linux/arm64}" --python-version 3.13 --out /out/app

FROM gcr.io/distroless/python3-debian13:nonroot
WORKDIR /app
COPY --from=build /out/app /app
ARG PENVOICE_REVISION=unknown
ENV PENVOICE_REVISION=${PENVOICE_REVISION}
EXPOSE 8080
# distroless's nonroot is uid/gid 65532; the pod spec pins runAsUser 65532 numerically, since
# the kubelet cannot check runAsNonRoot against a user name.
# hadolint ignore=DL3066
USER nonroot:nonroot
ENTRYPOINT ["/app/penvoice-api"]
