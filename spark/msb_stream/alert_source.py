"""Kafka read and alert decoding fused in one Python task (format ``msbalerts``).

With the Python Kafka source, ``msbkafka`` + ``mapInArrow`` would carry every raw packet
(60-180 KB, cutouts included) from the reading Python worker into the JVM and back out to a
decoding Python worker. Decoding where the bytes are read sends only the flat decoded rows
(~2 KB each) across: the same offsets, partitions and options as ``msbkafka``, the same
``BatchDecoder`` as the ``mapInArrow`` path that the native ``kafka`` format uses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql.datasource import DataSource, InputPartition
from pyspark.sql.types import StructType

from msb_stream.kafka_source import KafkaRange, KafkaStreamReader, read_messages

# Spark plans each batch's offsets in a Python process of its own that unpickles this source: the
# decoding and output modules (pandas, pyarrow's Parquet, the filters) are imported only where
# they run, in the tasks (and in schema(), on the driver), so that process starts in a fraction of
# the time.

FORMAT = "msbalerts"
# Messages decoded together: each batch has a fixed cost (Arrow assembly, the filters' pandas
# frame, the output encoders), so few large ones; 2,000 ZTF packets are ~130 MB.
DECODE_CHUNK = 2000

class MsbAlerts(DataSource):
    """``spark.readStream.format("msbalerts")``: msbkafka options plus ``decode`` (settings_option).

    With ``outputs`` (msb_stream.outputs.settings_option) too, each task also writes the outputs
    of what it decoded and returns outcome rows instead of the decoded ones (the stream job).
    """

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def schema(self) -> str:
        from msb_stream.decode import settings_from_option, spark_ddl
        from msb_stream.outputs import OUTCOME_DDL

        if "outputs" in {k.lower() for k in self.options}:
            return OUTCOME_DDL  # the task writes the outputs itself: one outcome row per task
        return spark_ddl(settings_from_option(self._decode_option()).keep_cutouts)

    def _decode_option(self) -> str:
        options = {k.lower(): v for k, v in self.options.items()}
        if "decode" not in options:
            raise ValueError("msbalerts needs the option decode (msb_stream.decode.settings_option)")
        return options["decode"]

    def streamReader(self, schema: StructType) -> AlertStreamReader:
        return AlertStreamReader(dict(self.options))


class AlertStreamReader(KafkaStreamReader):
    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        from msb_stream.decode import cached_decoder
        from msb_stream.outputs import write_outputs

        assert isinstance(partition, KafkaRange)
        dec = cached_decoder(self.options["decode"])
        chunks = read_messages(self.options, partition, self.poll_timeout, DECODE_CHUNK)
        if "outputs" in self.options:  # each decoded batch with its messages' values (outputs may republish them)
            yield from write_outputs(self.options["outputs"],
                                     ((dec.messages(msgs), [m.value() for m in msgs]) for msgs in chunks))
        else:
            yield from map(dec.messages, chunks)
