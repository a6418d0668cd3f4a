"""The filter topics' messages in Fink's Livestream convention, built in the task by the core's
encoder (msb.schemas.livestream) from the contract's fields, taken from the decoded batch's columns.
"""

from __future__ import annotations

import pyarrow as pa

from msb.schemas.livestream import FIELDS

# The contract's field -> the decoded batch's column it comes from.
SOURCES = {"msb_filters": "filters", "msb_night": "night", "msb_topic": "topic", "msb_partition": "partition",
           "msb_offset": "offset", "msb_sent_ns": "msb_sent_ns"}


def contract_fields(rows: pa.Table | pa.RecordBatch) -> pa.Table:
    """The Livestream contract's fields of decoded rows."""
    return pa.table({name: rows.column(SOURCES[name]) for name in FIELDS})
