"""Early classification: the rules of rules.yaml applied to a whole batch at once (see that file)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from msb import paths

RULES_FILE = Path(__file__).with_name("rules.yaml")
UNKNOWN = "Unknown"
AMBIGUOUS = "Ambiguous"
_COND = re.compile(r"^\s*(\w+)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+(?:[eE][-+]?\d+)?)\s*$")
_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
        "==": np.equal, "!=": np.not_equal}


class RulesError(ValueError):
    """rules.yaml is malformed; the text names the rule."""


SIMBAD_LABELS = "simbad_otypes_labels.txt"


def simbad_labels_file(store: Path | None = None) -> Path:
    """The SIMBAD labels a service reads: the copy in its catalog store (written by
    ``msb catalog build-defaults``, so a container needs only its store), else the shared source."""
    if store is not None and (store / SIMBAD_LABELS).is_file():
        return store / SIMBAD_LABELS
    return paths.catalogs_dir() / "simbad" / SIMBAD_LABELS


def simbad_labels(path: Path | None = None) -> dict[str, str]:
    """SIMBAD otype -> label (the `new_label` column), e.g. 'RR*' -> 'RRLyrae'."""
    path = path or simbad_labels_file()
    if not path.is_file():
        raise RulesError(f"SIMBAD type labels {path} not found: build the catalog store with "
                         "'msb catalog build-defaults' (it copies them) or set MSB_SHARED")
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] and cells[0] != "otype":
            out[cells[0]] = cells[2]
    if not out:
        raise RulesError(f"{path}: no otype | old_label | new_label rows")
    return out


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: float

    def __call__(self, cols: dict[str, np.ndarray], n: int) -> np.ndarray:
        v = cols.get(self.column)
        if v is None:
            return np.zeros(n, dtype=bool)
        v = np.asarray(v, dtype=np.float64)  # None -> NaN, and NaN compares false
        with np.errstate(invalid="ignore"):
            return _OPS[self.op](v, self.value)


@dataclass(frozen=True)
class Rule:
    name: str
    rank: int
    cls: str  # a class, or "label" for the normalised catalog label
    why: str
    when: tuple[Condition, ...] = ()
    catalog: str | None = None
    example: dict[str, Any] | None = None


class Classifier:
    """Applies the rules to evidence columns and per-catalog match labels of a batch."""

    def __init__(self, rules_file: Path | None = None, otypes: dict[str, str] | None = None) -> None:
        doc = yaml.safe_load((rules_file or RULES_FILE).read_text())
        self.otypes = otypes if otypes is not None else simbad_labels()
        self.rules = [self._rule(r) for r in doc.get("rules", [])]
        self.label_maps = {cat: [(re.compile(p), o) for p, o in pairs] for cat, pairs in doc.get("labels", {}).items()}
        for r in self.rules:
            if r.cls == "label" and r.catalog not in self.label_maps:
                raise RulesError(f"rule {r.name}: class 'label' needs a labels.{r.catalog} table")
        self._norm = lru_cache(maxsize=100_000)(self._normalise)

    def _rule(self, d: dict[str, Any]) -> Rule:
        name = d.get("name", "?")
        try:
            when = tuple(self._cond(c, name) for c in d.get("when", []))
            rule = Rule(name=name, rank=int(d["rank"]), cls=str(d["class"]), why=str(d.get("why", "")),
                        when=when, catalog=d.get("catalog"), example=d.get("example"))
        except KeyError as exc:
            raise RulesError(f"rule {name}: missing {exc}") from None
        if not rule.when and not rule.catalog:
            raise RulesError(f"rule {name}: needs `when` conditions or a `catalog`")
        return rule

    @staticmethod
    def _cond(text: str, rule: str) -> Condition:
        m = _COND.match(text)
        if not m:
            raise RulesError(f"rule {rule}: condition {text!r} is not 'column op number'")
        return Condition(m[1], m[2], float(m[3]))

    @property
    def catalogs(self) -> set[str]:
        return {r.catalog for r in self.rules if r.catalog}

    def _normalise(self, catalog: str, raw: str) -> str | None:
        primary = re.split(r"[|/:+]", raw.strip().upper(), maxsplit=1)[0].strip()
        for pattern, otype in self.label_maps.get(catalog, []):
            if pattern.search(primary):
                otype = raw.strip() if otype == "==" else otype
                return self.otypes.get(otype)
        return None

    def normalise(self, catalog: str, raw: str | None) -> str | None:
        """The SIMBAD label of a catalog type ('RRAB' in VSX -> 'RRLyrae'), None if unmapped."""
        return None if raw is None else self._norm(catalog, raw)

    def classify(self, evidence: dict[str, np.ndarray], matches: dict[str, np.ndarray], n: int
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(classification, reason) per alert; reason lists the deciding rules ('a+b')."""
        best_rank = np.full(n, np.iinfo(np.int64).max)
        cls = np.full(n, UNKNOWN, dtype=object)
        reason = np.full(n, "", dtype=object)
        for rule in sorted(self.rules, key=lambda r: r.rank):
            fired, proposed = self._fire(rule, evidence, matches, n)
            if not fired.any():
                continue
            new = fired & (rule.rank < best_rank)
            same = fired & (rule.rank == best_rank)
            cls[new] = proposed[new]
            reason[new] = rule.name
            best_rank[new] = rule.rank
            cls[same & (cls != proposed)] = AMBIGUOUS  # same rank, another class: a conflict
            for i in np.flatnonzero(same):
                reason[i] = f"{reason[i]}+{rule.name}"
        return cls, reason

    def _fire(self, rule: Rule, evidence: dict[str, np.ndarray], matches: dict[str, np.ndarray], n: int
              ) -> tuple[np.ndarray, np.ndarray]:
        fired = np.ones(n, dtype=bool)
        for cond in rule.when:
            fired &= cond(evidence, n)
        if rule.catalog:
            labels = matches.get(rule.catalog)
            if labels is None:
                return np.zeros(n, dtype=bool), np.empty(n, dtype=object)
            fired &= np.array([v is not None for v in labels], dtype=bool)
            if rule.cls == "label":
                proposed = np.array([self.normalise(rule.catalog, v) if f else None
                                     for v, f in zip(labels, fired, strict=True)], dtype=object)
                fired &= np.array([p is not None for p in proposed], dtype=bool)
                return fired, proposed
        return fired, np.full(n, rule.cls, dtype=object)
