#!/usr/bin/env bash
# `make lab`: the embedded broker, a replay looping the night into topic `raw`, and JupyterLab on the
# bootcamp with the project's .venv kernel. bootcamp/run_lab.py supervises them (and says why it is
# not this script): Ctrl-C stops all three, with Jupyter's kernels, within seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${VENV:-.venv}/bin/python" bootcamp/run_lab.py
