"""Writer schemas by Confluent schema id: a local folder (``<id>.avsc`` files, or a survey's own layout,
e.g. Rubin's) and/or a schema-registry URL, fetched once per id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro
import requests

from msb.avro.prefix import PrefixReader
from msb.avro.schema import AlertDecodeError, WriterSchema


class SchemaStore:
    """Writer schemas by Confluent schema id, from a local folder and/or a registry URL.

    A local folder may hold ``<id>.avsc`` files, or files a survey numbers itself (its adapter's
    ``schema_id``: Rubin's ``X.Y/lsst.vX_Y.alert.avsc`` with its named sub-schemas beside it, or
    ``lsst_alert_vX_Y_combined.avsc``, are id ``X*100+Y``).
    """

    def __init__(self, folder: str | Path | None = None, registry_url: str | None = None) -> None:
        self.registry_url = registry_url.rstrip("/") if registry_url else None
        self._by_id: dict[int, WriterSchema] = {}
        self._ids_by_name: dict[str, int] = {}
        if folder is not None:
            self.load_folder(Path(folder))

    def load_folder(self, folder: Path) -> None:
        from msb.surveys import schema_id  # msb.surveys imports msb.avro: not at this module's import

        if not folder.is_dir():
            raise FileNotFoundError(f"schema folder {folder} does not exist")
        for path in sorted(folder.rglob("*.avsc")):
            sid = int(path.stem) if path.stem.isdigit() else schema_id(path.stem)
            if sid is None or sid in self._by_id:
                continue
            self.add(sid, _load_avsc(path))

    def add(self, schema_id: int, schema: dict[str, Any]) -> WriterSchema:
        parsed = fastavro.parse_schema(schema, _force=True)
        ws = WriterSchema(parsed, parsed.get("name", ""), "null", PrefixReader(parsed))
        self._by_id[schema_id] = ws
        self._ids_by_name.setdefault(ws.name, schema_id)
        return ws

    def id_for(self, schema_name: str) -> int | None:
        return self._ids_by_name.get(schema_name)

    def get(self, schema_id: int) -> WriterSchema:
        ws = self._by_id.get(schema_id)
        if ws is not None:
            return ws
        if self.registry_url:
            return self.add(schema_id, self._fetch(schema_id))
        raise AlertDecodeError(f"unknown schema id {schema_id} (no such schema in the local folder)")

    def _fetch(self, schema_id: int) -> dict[str, Any]:
        url = f"{self.registry_url}/schemas/ids/{schema_id}"
        try:
            resp = requests.get(url, timeout=10)
        except requests.RequestException as exc:
            raise AlertDecodeError(f"schema registry {self.registry_url} unreachable: {exc}") from exc
        if resp.status_code == 404:
            raise AlertDecodeError(f"unknown schema id {schema_id} (registry {self.registry_url} has none)")
        resp.raise_for_status()
        return json.loads(resp.json()["schema"])


def _load_avsc(path: Path) -> dict[str, Any]:
    """One .avsc; named types in sibling ``<full.name>.avsc`` files are resolved (Rubin's layout)."""
    return fastavro.schema.load_schema(path, _write_hint=False)
