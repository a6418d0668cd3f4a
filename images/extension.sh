#!/bin/sh
# msb's C extension (the columnar decoder's executor, msb/avro/_columns.py, compiled by setup.py at
# `pip install`) in an image's build stage; the final stage copies the built venv, not the compiler.
#   extension.sh deps    before `pip install`: gcc, and the Python headers where the base lacks them
#                        (python:3.11-slim has its own; Debian's python3.11, as in msb-base:bookworm,
#                        needs libpython3.11-dev)
#   extension.sh check   after `pip install`: fails unless the venv's msb loads the compiled module
#                        (without a compiler pip silently installs the ~10x slower plain-Python one)
set -eu
case "${1:-}" in
deps)
  packages="gcc libc6-dev"
  include=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  if [ ! -f "$include/Python.h" ]; then
    packages="$packages libpython$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev"
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null
  rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
  test -f "$include/Python.h" || { echo "extension.sh: no Python.h under $include after installing $packages" >&2; exit 1; }
  ;;
check)
  python3 -c '
import sys
from msb.avro import _columns, columnar
if not (columnar.compiled() and _columns.__file__.startswith(sys.prefix + "/")):
    sys.exit(f"msb columnar decoder: the C extension was not built ({_columns.__file__} loaded instead); "
             "`pip install -v` shows the compiler error")
print(f"msb columnar decoder: compiled ({_columns.__file__})")'
  ;;
*)
  echo "usage: extension.sh deps|check" >&2; exit 2 ;;
esac
