#!/usr/bin/env bash
# `make lab`: the embedded broker, a replay looping the night into topic `raw`, and JupyterLab on the
# bootcamp with the project's .venv kernel; MSB_BOOTSTRAP tells the notebooks where Kafka is.
# Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
KAFKA_PORT=${LAB_KAFKA_PORT:-9092}
LAB_PORT=${LAB_PORT:-8888}
VISIT_INTERVAL=${LAB_VISIT_INTERVAL:-30}   # one visit every 30 s, the survey's own cadence
DATA=${MSB_DATA:-${MSB_SHARED:-../shared}/data/ztf/alerts/ztf_public_20181129_v3.2}   # what the notebooks read too
OUT=${OUT:-out}/bootcamp
mkdir -p "$OUT"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$VENV/bin/msb" broker --port "$KAFKA_PORT" > "$OUT/broker.log" 2>&1 &
pids+=($!)
export MSB_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null && break; sleep 0.1; done

"$VENV/bin/msb" replay --data "$DATA" --topic raw --forever --visit-interval "$VISIT_INTERVAL" \
  --metrics-port 0 > "$OUT/replay.log" 2>&1 &
pids+=($!)

TOKEN=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))')
root=(); [ "$(id -u)" = 0 ] && root=(--allow-root)   # containers and CI machines run as root
"$VENV/bin/jupyter" lab --no-browser --ip 127.0.0.1 --port "$LAB_PORT" --ServerApp.port_retries=0 "${root[@]}" \
  --IdentityProvider.token="$TOKEN" --ServerApp.root_dir=bootcamp > "$OUT/jupyter.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do
  (echo > "/dev/tcp/127.0.0.1/$LAB_PORT") 2>/dev/null && break
  kill -0 "${pids[-1]}" 2>/dev/null || { tail -n 5 "$OUT/jupyter.log" >&2; echo "make lab: JupyterLab did not start" >&2; exit 1; }
  sleep 0.1
done

cat <<EOF

  msb bootcamp
    Kafka       $MSB_BOOTSTRAP (embedded tansu broker; log $OUT/broker.log)
    replay      $DATA -> topic raw, one visit every ${VISIT_INTERVAL} s, looping (log $OUT/replay.log)
    JupyterLab  http://127.0.0.1:$LAB_PORT/lab?token=$TOKEN
                (kernel: $VENV/bin/python; log $OUT/jupyter.log)

  Open the URL and play 01_alert_system.ipynb to 05_lsst_alerts.ipynb in order. Ctrl-C stops everything.

EOF
wait -n "${pids[@]}"
echo "make lab: a component exited; see the logs in $OUT" >&2
