"""The Parquet archive, partitioned by night, written exactly once per micro-batch.

The tasks that decode a batch write its alerts into the job's staging folder (outputs.py); the
driver then moves the files the batch reported into ``night=YYYYMMDD/`` under names that carry
the batch id, and empties the staging folder (what is left there came from failed attempts). Once the Kafka outputs are
also done the job writes a marker: a batch whose marker exists is skipped; a batch retried after a
crash first removes whatever files an earlier attempt had moved. Folders starting with ``_`` are
ignored by Parquet readers. The archive must be a POSIX path (local disk, or a volume shared by driver and executors).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


class Archive:
    def __init__(self, root: str | Path, checkpoint: str | Path) -> None:
        self.root = Path(root).resolve()
        # Batch ids count per checkpoint: a tag of it keeps two checkpoints' batches apart.
        self.tag = hashlib.sha1(str(Path(checkpoint).resolve()).encode()).hexdigest()[:10]
        self.markers = self.root / "_msb_batches"
        self.markers.mkdir(parents=True, exist_ok=True)
        self.staging = self.root / "_staging" / self.tag
        shutil.rmtree(self.staging, ignore_errors=True)  # files of a run that died mid-batch

    def _marker(self, batch_id: int) -> Path:
        return self.markers / f"{self.tag}-{batch_id}"

    def committed(self, batch_id: int) -> bool:
        return self._marker(batch_id).exists()

    def place(self, files: list[str], batch_id: int) -> None:
        """Moves a batch's staged files (``<staging>/night=*/x.parquet``) into the archive."""
        prefix = f"b{self.tag}-{batch_id}-"
        for stale in self.root.glob(f"night=*/{prefix}*"):  # an earlier, interrupted attempt
            stale.unlink()
        for i, path in enumerate(sorted(Path(f) for f in files)):
            dest = self.root / path.parent.name / f"{prefix}{i:05d}.parquet"
            dest.parent.mkdir(exist_ok=True)
            os.replace(path, dest)
        shutil.rmtree(self.staging, ignore_errors=True)

    def commit(self, batch_id: int) -> None:
        """Marks the batch done: only after every output of the batch (archive and Kafka) succeeded."""
        tmp = self._marker(batch_id).with_suffix(".tmp")
        tmp.write_text(str(batch_id))
        os.replace(tmp, self._marker(batch_id))
