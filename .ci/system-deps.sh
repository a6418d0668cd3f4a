#!/usr/bin/env bash
# Installs the system packages msb needs, only where they are missing (root or sudo: apt-get).
set -euo pipefail
# podman, runc, catatonit, mmdebstrap: `make images` and the chart's pods run for real in the tests.
bash "$(dirname "$0")/../images/podman-deps.sh"
need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing system packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the prometheus service on install; msb's tests run their own server.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
java -version 2>&1 | head -1
