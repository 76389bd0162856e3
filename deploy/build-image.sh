#!/usr/bin/env bash
# Build the gturret image where no base image can be pulled and pip in a build cannot
# verify TLS (this project's machines): `make image` runs it; docs/containers.md says why.
#
#   deploy/build-image.sh TAG...      e.g. gturret:latest gturret:0.1.0
#
# 1. gturret and its dependencies as wheels, built on the host into build/wheels (the
#    Dockerfile installs them with --no-index);
# 2. the base: $BASE if given, else gturret-base:bookworm, made once with debootstrap
#    (bookworm minbase + python3, python3-venv) and `docker import`, then kept as a cache;
# 3. docker build with that BASE, the version and the repository as labels.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: deploy/build-image.sh TAG..." >&2; exit 2; }
PIP="${PIP:-.venv/bin/pip}"
BASE="${BASE:-gturret-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
docker info >/dev/null 2>&1 || { echo "build-image: no Docker engine answers (docker info failed)" >&2; exit 2; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
quietly() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "build-image: $1 failed" >&2; exit 2; }; }

rm -rf build/wheels
quietly "$PIP" wheel --wheel-dir build/wheels .

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    [ "$BASE" = gturret-base:bookworm ] || { echo "build-image: no image $BASE" >&2; exit 2; }
    root=$(mktemp -d /tmp/gturret-base.XXXXXX)
    trap 'rm -rf "$root" "$log"' EXIT
    quietly debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$MIRROR"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import - "$BASE" >/dev/null
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
tags=()
for tag in "$@"; do tags+=(--tag "$tag"); done
quietly docker build --build-arg BASE="$BASE" --build-arg VERSION="$version" \
    --build-arg SOURCE="$(git config --get remote.origin.url || true)" "${tags[@]}" .
# The legacy builder keeps the build stage as an untagged image: not wanted once built.
docker image prune --force --filter label=gturret.stage=build >/dev/null
echo "built ${*} on $BASE"
