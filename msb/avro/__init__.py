"""Avro for alert packets, one module per job:

* :mod:`~msb.avro.schema`: the error a bad packet raises, a parsed writer schema, varints;
* :mod:`~msb.avro.container`: object-container files (ZTF), each distinct header parsed once;
* :mod:`~msb.avro.confluent`: the Confluent wire format;
* :mod:`~msb.avro.registry`: writer schemas by id, from a folder or a schema registry;
* :mod:`~msb.avro.prefix`: the leading fields of a datum read or rewritten without decoding it;
* :mod:`~msb.avro.decoder`: any message to a dict, with fastavro; a message with new ids;
* :mod:`~msb.avro.columnar` (with :mod:`~msb.avro.plan` and the compiled :mod:`~msb.avro._columns`):
  messages straight into Arrow columns, the broker's hot path; and Arrow columns back to Avro.
"""

from msb.avro.confluent import CONFLUENT_MAGIC, encode_confluent, frame_confluent, split_confluent
from msb.avro.container import MAGIC, ContainerDecoder, container_header
from msb.avro.decoder import AlertDecoder, with_new_ids
from msb.avro.prefix import PrefixReader
from msb.avro.registry import SchemaStore
from msb.avro.schema import AlertDecodeError, WriterSchema

__all__ = [
    "CONFLUENT_MAGIC", "MAGIC", "AlertDecodeError", "AlertDecoder", "ContainerDecoder", "PrefixReader", "SchemaStore",
    "WriterSchema", "container_header", "encode_confluent", "frame_confluent", "split_confluent", "with_new_ids",
]
