"""One adapter per survey: a decoded packet to the flat row every component reads.

Each survey module (``ztf``, ``rubin``) knows its packet layout and nothing else does: ``row``
turns a decoded packet into the flat row (the stream's columns, ``msb.stream.decode``), ``summary``
selects the columns ``msb.alert.summary`` shows, and the crossmatch's view of a raw alert is a
selection of the same row. Adding a survey is one module here, registered in ``ADAPTERS``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from msb.surveys import rubin, ztf

ADAPTERS: dict[str, ModuleType] = {ztf.NAME: ztf, rubin.NAME: rubin}


def adapter_for(rec: dict[str, Any]) -> ModuleType:
    """The adapter of a decoded packet whose survey is not known: Rubin packets carry a diaSource."""
    return rubin if "diaSource" in rec else ztf
