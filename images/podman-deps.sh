#!/usr/bin/env bash
# podman and what it needs here (runc, pods' catatonit, mmdebstrap for the local base image),
# installed with apt only where missing.
set -euo pipefail
need=()
for pkg in podman runc catatonit mmdebstrap buildah; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" uidmap fuse-overlayfs slirp4netns \
  containernetworking-plugins >/dev/null
