"""Downloads Spark's Kafka connector and what it needs into pyspark's jars folder (optional image step).

    python3 spark_kafka_jars.py MAVEN_REPO [SCALA] [KAFKA_CLIENTS] [COMMONS_POOL2]
The connector's version is the installed pyspark's, so it always matches the JVM it runs in.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pyspark


def main(repo: str, scala: str = "2.13", clients: str = "3.9.0", pool2: str = "2.12.0") -> None:
    spark = pyspark.__version__
    jars = Path(pyspark.__file__).parent / "jars"
    for path in (
        f"org/apache/spark/spark-sql-kafka-0-10_{scala}/{spark}/spark-sql-kafka-0-10_{scala}-{spark}.jar",
        f"org/apache/spark/spark-token-provider-kafka-0-10_{scala}/{spark}/"
        f"spark-token-provider-kafka-0-10_{scala}-{spark}.jar",
        f"org/apache/kafka/kafka-clients/{clients}/kafka-clients-{clients}.jar",
        f"org/apache/commons/commons-pool2/{pool2}/commons-pool2-{pool2}.jar",
    ):
        target = jars / path.rsplit("/", 1)[1]
        urllib.request.urlretrieve(f"{repo.rstrip('/')}/{path}", target)
        print(f"{target.name}: {target.stat().st_size:,} bytes")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
