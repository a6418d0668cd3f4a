#!/usr/bin/env bash
# Builds msb-base:bookworm from Debian packages (no registry needed): bookworm minbase, Python 3.11
# with venv, and this host's CA certificates so that pip inside an image build reaches PyPI through
# whatever TLS interception the host's own pip trusts.
#   images/base-image.sh ENGINE [TAG]
set -euo pipefail
engine=${1:-podman}
tag=${2:-msb-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The host's extra CAs (Debian's layout); update-ca-certificates inside the chroot merges them.
mkdir -p "$work/ca"
cp /usr/local/share/ca-certificates/*.crt "$work/ca/" 2>/dev/null || true
mmdebstrap --variant=minbase --mode=root --quiet \
  --include=python3.11,python3.11-venv,ca-certificates \
  --customize-hook="cp $work/ca/*.crt \"\$1/usr/local/share/ca-certificates/\" 2>/dev/null || true" \
  --customize-hook='chroot "$1" update-ca-certificates >/dev/null' \
  --customize-hook='ln -sf python3.11 "$1/usr/bin/python3"' \
  --customize-hook='printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"' \
  --customize-hook='rm -rf "$1/usr/share/doc" "$1/usr/share/man" "$1/var/cache/apt"/*.bin' \
  bookworm "$work/rootfs.tar" "deb $mirror bookworm main"
"$engine" import --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' "$work/rootfs.tar" "$tag" >/dev/null
echo "$tag"
