#!/bin/sh
# Entrypoint of the msb-stream image: the two roles Spark on Kubernetes asks of an image, then
# anything else as given (the chart's driver runs `msb stream ...`).
#   executor  pods created by the driver (spark.kubernetes.* settings): Spark passes everything in
#             SPARK_* environment variables and expects this argument.
#   driver    spark-submit's cluster mode (the Spark operator): the driver pod re-enters
#             spark-submit in client mode with the arguments it was given.
set -eu
role=${1:-}
case "$role" in
  executor)
    shift
    # SPARK_JAVA_OPT_<n>: the executor's Java options, one per variable, in order.
    opts=$(env | grep '^SPARK_JAVA_OPT_' | sort -t_ -k4 -n | sed 's/^[^=]*=//' || true)
    cp="${SPARK_CLASSPATH:+$SPARK_CLASSPATH:}$SPARK_HOME/jars/*"
    # shellcheck disable=SC2086  # options are whitespace-free -D/-X settings, one per variable
    exec java -Xms"${SPARK_EXECUTOR_MEMORY}" -Xmx"${SPARK_EXECUTOR_MEMORY}" $opts -cp "$cp" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" --executor-id "$SPARK_EXECUTOR_ID" --cores "$SPARK_EXECUTOR_CORES" \
      --app-id "$SPARK_APPLICATION_ID" --hostname "$SPARK_EXECUTOR_POD_IP" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" --podName "$SPARK_EXECUTOR_POD_NAME"
    ;;
  driver)
    shift
    exec spark-submit --deploy-mode client \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:-0.0.0.0}" "$@"
    ;;
  "")
    exec msb stream --help
    ;;
  *)
    exec "$@"
    ;;
esac
