#!/usr/bin/env bash
# `make images`: builds msb-replay, msb-stream and msb-crossmatch (tag $TAG, default dev) from the
# repository root and prints each image's size.
#   CONTAINER_ENGINE  docker where its daemon answers, else podman (installed with apt if missing)
#   BASE_IMAGE        python:3.11-slim-bookworm with docker; "local" (msb-base:bookworm, built here
#                     from Debian packages by base-image.sh) with podman, which pulls nothing
#   IMAGES            which to build (default: replay stream crossmatch)
set -euo pipefail
cd "$(dirname "$0")/.."
here=images
tag=${TAG:-dev}
engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine=docker; else engine=podman; fi
fi
if [ "$engine" = podman ]; then bash "$here/podman-deps.sh"; fi
base=${BASE_IMAGE:-}
if [ -z "$base" ]; then
  if [ "$engine" = docker ]; then base=python:3.11-slim-bookworm; else base=local; fi
fi
if [ "$base" = local ]; then
  base=msb-base:bookworm
  if ! "$engine" image exists "$base" 2>/dev/null && ! "$engine" image inspect "$base" >/dev/null 2>&1; then
    echo "building $base from Debian packages (mmdebstrap)"
    bash "$here/base-image.sh" "$engine" "$base"
  fi
fi
build=("$engine" build)
if [ "$engine" = podman ]; then
  # runc and explicit ulimits: crun fails on some hosts' cgroups; never reach for a registry.
  build=(podman --runtime runc build --pull=never --network host
         --ulimit nofile=1024:20000 --ulimit nproc=4096:4096)
fi
declare -A dockerfile=([replay]=services/replay/Dockerfile [stream]=spark/Dockerfile
                       [crossmatch]=services/crossmatch/Dockerfile)
for name in ${IMAGES:-replay stream crossmatch}; do
  start=$(date +%s)
  echo "building msb-$name:$tag on $base (log: out/images/msb-$name.log)"
  mkdir -p out/images
  if ! "${build[@]}" --build-arg "BASE_IMAGE=$base" -f "${dockerfile[$name]}" -t "msb-$name:$tag" . \
       > "out/images/msb-$name.log" 2>&1; then
    tail -30 "out/images/msb-$name.log"; echo "msb-$name:$tag failed to build" >&2; exit 1
  fi
  echo "  built in $(( $(date +%s) - start )) s"
done
"$engine" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '(^|/)msb-(replay|stream|crossmatch):'"$tag"' ' | sed 's|^localhost/||'
