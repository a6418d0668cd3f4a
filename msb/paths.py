"""Where the shared real data lives (read in place, never copied into the project)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """``MSB_SHARED`` or ``../shared`` beside the repository."""
    return Path(os.environ.get("MSB_SHARED", REPO_ROOT.parent / "shared")).resolve()


def ztf_night() -> Path:
    return shared_dir() / "data" / "ztf" / "alerts" / "ztf_public_20181129_v3.2"


def rubin_alerts() -> Path:
    return shared_dir() / "data" / "lsst" / "alerts_v10_0"


def rubin_schemas() -> Path:
    return shared_dir() / "data" / "lsst" / "schema"


def catalogs_dir() -> Path:
    return shared_dir() / "data" / "catalogs"


def catalog_store() -> Path:
    """The crossmatch catalog store: ``MSB_CATALOGS``, else ``./catalogs`` in the working directory."""
    return Path(os.environ.get("MSB_CATALOGS", "catalogs")).resolve()
