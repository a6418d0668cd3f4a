"""A running crossmatch needs only its catalog store: `msb catalog build-defaults` copies SIMBAD's
type labels into it, so a container that mounts just /catalogs (no shared sources) classifies as
well as one beside the sources; an empty store (a chart installed without sources) still starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from msb import paths
from msb_crossmatch.match import Crossmatcher
from msb_crossmatch.rules import SIMBAD_LABELS, RulesError, simbad_labels


def test_store_carries_the_labels_and_needs_no_shared_folder(store: Path, xm: Crossmatcher,
                                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert (store / SIMBAD_LABELS).read_bytes() == (paths.catalogs_dir() / "simbad" / SIMBAD_LABELS).read_bytes()
    monkeypatch.setenv("MSB_SHARED", str(tmp_path / "nowhere"))
    alone = Crossmatcher.open(store)
    assert alone.classifier.otypes == xm.classifier.otypes and len(alone.classifier.otypes) > 100
    ra, dec = np.array([10.0, 200.0]), np.array([-20.0, 40.0])
    assert list(alone.run(ra, dec).classification) == list(xm.run(ra, dec).classification)


def test_empty_store_starts_and_classifies_unknown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MSB_SHARED", str(tmp_path / "nowhere"))
    empty = Crossmatcher.open(tmp_path / "store")
    assert empty.catalogs == {} and set(empty.run(np.array([1.0]), np.array([2.0])).classification) == {"Unknown"}


def test_missing_labels_are_named(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="simbad_otypes_labels.txt not found.*build-defaults"):
        simbad_labels(tmp_path / SIMBAD_LABELS)
