"""Fink's Livestream convention, which msb's filter topics follow so that Fink's own client reads them.

What Fink's client (PyPI ``fink-client``, ``fink_client.consumer.AlertConsumer.process_message``)
expects of a Livestream message: its value is one *schemaless* Avro datum, its key the writer
schema as JSON (``fastavro.schema.parse_schema(json.loads(key))``). Fink's topics are named
``fink_<name>_ztf`` / ``fink_<name>_lsst``, one per survey.

msb builds that datum without decoding the alert: an Avro record is its fields' encodings one after
the other, so the alert's own record schema with msb's fields appended at the end has as its datum
the alert's original datum bytes followed by the encoded extra fields (:func:`extended_schema`).

With the schema as key, the key no longer spreads one object's alerts onto one partition, so the
partition is chosen explicitly: :func:`partition_for` is Kafka's default partitioner for a keyed
message (murmur2 of the key bytes, as the Java client and librdkafka's ``murmur2_random`` compute
it) applied to the object id, i.e. the partition an ``objectId``-keyed message would have had.

Plain Python (no numpy or pyarrow): ``msb topics`` and every component import it.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import fastavro

# msb's survey names -> the ones Fink uses in its topic names and `finkctl -survey`.
FINK_SURVEYS = {"ztf": "ztf", "rubin": "lsst"}
DEFAULT_TOPIC_FORMAT = "fink_{filter}_{survey}"
DISTRIBUTIONS = ("fink", "container")
_LEGAL_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


# ----------------------------------------------------------------------------- topic names


def check_format(fmt: str) -> str:
    """The topic format, checked: it must name ``{filter}`` and may name ``{survey}`` (ztf or lsst);
    raises ValueError naming what is wrong."""
    try:
        sample = fmt.format(filter="f", survey="ztf")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"topic format {fmt!r}: only {{filter}} and {{survey}} may be used ({exc})") from None
    if "{filter}" not in fmt:
        raise ValueError(f"topic format {fmt!r} must contain {{filter}} (one topic per filter)")
    if not _LEGAL_TOPIC.match(sample):
        raise ValueError(f"topic format {fmt!r} gives {sample!r}, not a legal Kafka topic name "
                         "(letters, digits, '.', '_', '-')")
    return fmt


def topic_name(fmt: str, filter_name: str, survey: str, prefix: str = "") -> str:
    """The Livestream topic of a filter's alerts of one survey (msb's name ``ztf``/``rubin`` or Fink's)."""
    return prefix + fmt.format(filter=filter_name, survey=FINK_SURVEYS.get(survey, survey))


def topic_set(filters: list[str], fmt: str = DEFAULT_TOPIC_FORMAT, prefix: str = "") -> dict[str, list[str]]:
    """filter -> its topics, one per survey msb reads (the same topic twice collapses)."""
    return {f: list(dict.fromkeys(topic_name(fmt, f, s, prefix) for s in FINK_SURVEYS.values())) for f in filters}


def topic_pattern(fmt: str = DEFAULT_TOPIC_FORMAT, prefix: str = "") -> re.Pattern[str]:
    """A regex recognising the topic names ``fmt`` gives, with groups ``filter`` and ``survey``."""
    out, pos = [re.escape(prefix)], 0
    for m in re.finditer(r"\{(filter|survey)\}", fmt):
        out.append(re.escape(fmt[pos:m.start()]))
        out.append(r"(?P<filter>[A-Za-z0-9._-]+?)" if m[1] == "filter" else
                   "(?P<survey>" + "|".join(sorted(set(FINK_SURVEYS.values()))) + ")")
        pos = m.end()
    out.append(re.escape(fmt[pos:]))
    return re.compile("^" + "".join(out) + "$")


# ----------------------------------------------------------------------------- partitioning


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (``org.apache.kafka.common.utils.Utils.murmur2``), as a signed 32-bit int."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    whole = length & ~3
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a message keyed ``key``: toPositive(murmur2) % n."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# ----------------------------------------------------------------------------- schemas


def schema_json(parsed: Any) -> Any:
    """A schema parsed by fastavro as plain Avro JSON again (fastavro's ``__`` bookkeeping keys dropped)."""
    if isinstance(parsed, dict):
        return {k: schema_json(v) for k, v in parsed.items() if not k.startswith("__")}
    if isinstance(parsed, list):
        return [schema_json(v) for v in parsed]
    return parsed


def extended_schema(parsed: Any, extra_fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The writer's record schema with ``extra_fields`` appended (its name kept): the datum of a record
    of it is the writer's datum followed by the extra fields' encoding."""
    record = schema_json(parsed)
    if not isinstance(record, dict) or record.get("type") != "record":
        raise ValueError("a Livestream datum extends a record schema")
    clash = {f["name"] for f in record["fields"]} & {f["name"] for f in extra_fields}
    if clash:
        raise ValueError(f"the alert schema {record.get('name')} already has field(s) {', '.join(sorted(clash))}")
    return {**record, "fields": [*record["fields"], *extra_fields]}


def schema_key(schema: dict[str, Any]) -> bytes:
    """The message key of the convention: the schema as compact JSON."""
    return json.dumps(schema, separators=(",", ":")).encode()


class LivestreamReader:
    """Reads Livestream messages as Fink's client does (the key's schema decodes the value), each
    distinct key parsed once."""

    def __init__(self) -> None:
        self._schemas: dict[bytes, Any] = {}

    @staticmethod
    def is_livestream(key: bytes | None) -> bool:
        """True for a message whose key is a JSON schema (msb's other topics key by objectId)."""
        return key is not None and key[:1] == b"{"

    def read(self, key: bytes, value: bytes) -> dict[str, Any]:
        """The record of one message; ValueError naming the reason if the key or value is unreadable."""
        parsed = self._schemas.get(key)
        if parsed is None:
            try:
                parsed = fastavro.parse_schema(json.loads(key))
            except Exception as exc:  # noqa: BLE001 - any schema failure is a bad message
                raise ValueError(f"the key is not an Avro schema: {exc}") from exc
            if len(self._schemas) >= 64:  # hostile keys must not grow memory
                self._schemas.clear()
            self._schemas[key] = parsed
        try:
            return fastavro.schemaless_reader(io.BytesIO(value), parsed, None)
        except Exception as exc:  # noqa: BLE001 - fastavro raises many types on corrupt data
            raise ValueError(f"the value is not a datum of the key's schema: {type(exc).__name__}: {exc}") from exc
