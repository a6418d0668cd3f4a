"""rules.yaml: each rule's own example, the combination logic, and the real alerts explained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from msb_crossmatch.rules import AMBIGUOUS, RULES_FILE, UNKNOWN, Classifier, RulesError

RULES = yaml.safe_load(RULES_FILE.read_text())["rules"]


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier()


def classify_one(clf: Classifier, alert: dict | None = None, matches: dict | None = None) -> tuple[str, str]:
    ev = {k: np.array([v], dtype=float) for k, v in (alert or {}).items()}
    m = {k: np.array([v], dtype=object) for k, v in (matches or {}).items()}
    cls, reason = clf.classify(ev, m, 1)
    return cls[0], reason[0]


@pytest.mark.parametrize("rule", RULES, ids=[r["name"] for r in RULES])
def test_each_rule_fires_on_its_example_and_only_it(clf: Classifier, rule: dict) -> None:
    ex = rule["example"]
    cls, reason = classify_one(clf, ex.get("alert"), ex.get("matches"))
    assert (cls, reason) == (ex["class"], rule["name"])


def test_every_label_is_a_simbad_label_or_a_named_class(clf: Classifier) -> None:
    simbad = set(clf.otypes.values())
    assert {"RRLyrae", "EclBin", "Mira", "YSO", "Star", "Galaxy"} <= simbad  # the shared file is read
    for cat, table in clf.label_maps.items():
        for _, otype in table:
            assert otype == "==" or otype in clf.otypes, f"labels.{cat}: {otype} is not a SIMBAD otype"


def test_nothing_is_unknown_and_conflicts_are_ambiguous(clf: Classifier) -> None:
    assert classify_one(clf) == (UNKNOWN, "")
    assert classify_one(clf, {"ssdistnr": -999.0, "ndethist": 1})[0] == UNKNOWN  # ZTF's "no asteroid"
    cls, reason = classify_one(clf, matches={"vsx": "EW", "3hsp": "3HSPJ0001"})  # same rank, two classes
    assert (cls, reason) == (AMBIGUOUS, "vsx_variable+blazar_3hsp")
    # agreeing rules of one rank are not a conflict
    assert classify_one(clf, matches={"vsx": "RRAB", "gcvs": "RRC"}) == ("RRLyrae", "vsx_variable+gcvs_variable")
    # a lower rank wins: the variable type refines "Star"; the asteroid beats a star behind it
    assert classify_one(clf, {"distpsnr1": 0.3, "sgscore1": 1.0}, {"vsx": "EA"})[0] == "EclBin"
    assert classify_one(clf, {"ssdistnr": 0.5, "ndethist": 1}, {"gaia": "123"})[0] == "Solar System MPC"


@pytest.mark.parametrize("alert", [
    {"ssdistnr": 5.0, "ndethist": 1},  # 5" is outside
    {"ssdistnr": 1.0, "ndethist": 6},  # a long-seen source is not the asteroid
    {"ssdistnr": 1.0},  # ndethist missing: the condition cannot hold
    {"distpsnr1": 0.3, "sgscore1": 0.5},  # galaxy-like PS1 source
    {"distpsnr1": 2.0, "sgscore1": 1.0},  # too far from the PS1 star
    {"distpsnr1": -999.0, "sgscore1": 1.0},
])
def test_rule_thresholds_hold(clf: Classifier, alert: dict) -> None:
    assert classify_one(clf, alert)[0] == UNKNOWN


def test_catalog_types_normalise_to_simbad_labels(clf: Classifier) -> None:
    assert clf.normalise("vsx", "EW|EA  ") == "EclBin"
    assert clf.normalise("vsx", "DSCT:") == "delSctV*"
    assert clf.normalise("gcvs", "ELL") == "EllipVar"
    assert clf.normalise("openngc", "Cl+N") == "Cluster*"
    assert clf.normalise("openngc", "Dup") is None  # an OpenNGC duplicate entry is no class
    assert clf.normalise("simbad", "QSO") == "QSO"


def test_malformed_rules_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {name: x, rank: 1, class: Star, when: ['sgscore1 is big']}\n")
    with pytest.raises(RulesError, match="rule x: condition 'sgscore1 is big'"):
        Classifier(bad)


def test_real_alerts_are_explained_by_their_evidence(xm, ztf_alerts) -> None:
    cand = [a["candidate"] for a in ztf_alerts]
    ra = np.array([c["ra"] for c in cand])
    dec = np.array([c["dec"] for c in cand])
    ev = {k: np.array([np.nan if c.get(k) is None else c[k] for c in cand], dtype=float)
          for k in ("ssdistnr", "ndethist", "sgscore1", "distpsnr1")}
    res = xm.run(ra, dec, ev)
    near_asteroid = (ev["ssdistnr"] >= 0) & (ev["ssdistnr"] < 5)
    assert near_asteroid.sum() == 145  # the shared README's count
    assert (res.classification[near_asteroid] == "Solar System MPC").all()
    for i in range(len(cand)):
        cls, why = res.classification[i], res.reason[i].split("+")
        if cls == UNKNOWN:
            assert why == [""]
            assert not near_asteroid[i]
            assert not all(res.columns[f"xm_{n}"][i] is not None for n in ("vsx", "gaia"))
            continue
        for rule in why:
            if rule == "known_asteroid":
                assert 0 <= ev["ssdistnr"][i] < 5 and ev["ndethist"][i] <= 5
            elif rule == "ps1_star":
                assert ev["sgscore1"][i] >= 0.9 and 0 <= ev["distpsnr1"][i] < 1.5
            else:
                cat = next(r["catalog"] for r in RULES if r["name"] == rule)
                radius = xm.catalogs[cat].search_radius_arcsec()
                assert res.columns[f"xm_{cat}"][i] is not None and res.columns[f"xm_{cat}_sep"][i] <= radius
    counts = dict(zip(*np.unique(res.classification, return_counts=True), strict=True))
    assert counts["Solar System MPC"] >= 145 and counts["Star"] > 50 and counts["RRLyrae"] > 10
