# %% [markdown]
# # Part 4 — Crossmatch and early classification
#
# **What you will learn**
#
# * why a broker crossmatches: an alert's position, compared with what catalogs know about that
#   spot of sky, is the first clue to what it is (a variable star, a galaxy's nucleus, an asteroid);
# * msb's local catalog store (HEALPix-partitioned Parquet) built from real catalogs;
# * how the crossmatch service consumes the stream, matches every alert against every catalog and
#   classifies it with a table of rules; the classification mix and a sky map coloured by class;
# * one alert explained by its matches, and the rule that decided;
# * SIMBAD through the CDS xMatch service when the network allows, the local catalogs otherwise.

# %%
import os
from pathlib import Path

import lab
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from msb import paths
from msb_crossmatch.cds import FAIL, CdsXmatch
from msb_crossmatch.defaults import build_default_catalogs
from msb_crossmatch.match import EVIDENCE, Crossmatcher
from msb_crossmatch.rules import Classifier
from msb_crossmatch.service import CrossmatchConfig, run_service
from msb_crossmatch.store import list_catalogs

bootstrap = lab.connect()
topic = lab.fresh_topic("ztf")
replayed = lab.replay(bootstrap, lab.ztf_data(), topic).wait()
NIGHT = lab.night_label(lab.ztf_data())  # for titles
print(f"{replayed.alerts} alerts replayed into {topic} at {bootstrap}")

# %% [markdown]
# ## 1. The catalog store
#
# `msb catalog build-defaults` ingests nine catalogs from `../shared/data/catalogs` (variable stars
# from VSX and the GCVS, young stars from SPICY, bright stars from Gaia DR3 and Hipparcos, galaxies,
# clusters and nebulae from OpenNGC, Mangrove galaxies, 3HSP and Fermi 4LAC blazars). Each is
# stored as Parquet files split by HEALPix cell, so that a batch of alerts only loads the cells it
# touches. The store is shared with `make run` (`./catalogs`, or `MSB_CATALOGS`); building it takes
# a few seconds the first time, then it is reused.

# %%
store = Path(os.environ.get("MSB_CATALOGS") or paths.REPO_ROOT / "catalogs")
built = build_default_catalogs(store, log=print)
catalogs = pd.DataFrame([{"catalog": m.name, "rows": m.rows, "radius (arcsec)": m.radius_arcsec,
                          "partitions": len(m.partitions), "what": m.note} for m in list_catalogs(store)])
with pd.option_context("display.max_colwidth", 80):
    display(catalogs)  # noqa: F821 - display is an IPython built-in
assert len(catalogs) == 9

# %% [markdown]
# ## 2. Match the stream
#
# The crossmatch service (`msb crossmatch`) is a Kafka consumer group: it reads alerts in batches,
# matches each batch against every catalog (exact great-circle distances, within each catalog's
# radius), classifies, produces one record per alert to the output topic and writes Parquet, then
# commits its offsets. In `msb run` it reads the stream job's `processed` topic (alerts that passed
# the quality cut); it also reads raw alerts, so here it classifies the whole night straight from
# the replayed topic. (Joining the group takes a few seconds.)

# %%
out = lab.out_dir("04_crossmatch") / topic
summary = run_service(
    CrossmatchConfig(bootstrap=bootstrap, topic=topic, out_topic=f"{topic}-classified", group=f"bootcamp-{topic}",
                     catalogs=store, out=out, http_port=None, session_timeout_ms=6000, exit_when_idle=60,
                     track_candids=True),
    stop_when=lambda s: len(s.candids) >= replayed.alerts,
)
print(summary.table())
classified = pd.read_parquet(out)
print(f"{len(classified)} classified alerts in {summary.seconds:.1f} s; columns: {list(classified.columns)[:14]} ...")
assert len(classified) == classified.candid.nunique() == replayed.alerts

# %% [markdown]
# Every record carries the classification, the rule(s) that decided it, the evidence the rules read
# (`ssdistnr`, `ndethist`, `sgscore1`, ...) and, per catalog, the nearest match (`xm_<catalog>`)
# and its separation in arcsec (`xm_<catalog>_sep`).
#
# Known asteroids are found from the alert itself: ZTF's pipeline gives the distance to the nearest
# known solar-system object, `ssdistnr`. 145 alerts of the shared night lie within 5" of one; the
# rule `known_asteroid` also asks for at most 5 detections at that spot (a fixed star would have more).

# %%
near_asteroid = classified.ssdistnr.between(0, 5, inclusive="left")
print(f"{near_asteroid.sum()} alerts within 5\" of a known asteroid")
lab.expect(int(near_asteroid.sum()), 145, "alerts within 5\" of a known asteroid")
mpc = classified.classification == "Solar System MPC"
assert mpc.sum() == (near_asteroid & (classified.ndethist <= 5)).sum()  # the only rule of rank 1 decides alone

mix = classified.classification.value_counts()
hits = pd.Series(summary.hits).sort_values()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
mix.sort_values().plot.barh(ax=ax1, color="tab:blue")
ax1.set(xlabel="alerts", title=f"classification mix, ZTF {NIGHT}")
hits.plot.barh(ax=ax2, color="tab:orange")
ax2.set(xlabel="alerts with a match", title="matches per catalog")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. A sky map coloured by class
#
# The shared night's three exposures cover a few ZTF fields; each dot is an alert.

# %%
fig, ax = plt.subplots(figsize=(10, 6))
palette = plt.cm.tab20(np.linspace(0, 1, 20))
for i, cls in enumerate(mix.index):
    sel = classified[classified.classification == cls]
    unknown = cls == "Unknown"
    ax.scatter(sel.ra, sel.dec, s=10 if unknown else 24, color="lightgray" if unknown else palette[i % 20],
               label=f"{cls} ({len(sel)})")
ax.invert_xaxis()  # RA increases to the left on the sky
ax.set(xlabel="RA (deg)", ylabel="Dec (deg)", title=f"alerts of {NIGHT} by early classification")
ax.legend(fontsize=8, loc="best", markerscale=1.5)
plt.show()

# %% [markdown]
# ## 4. One alert, explained
#
# Take the alert that a catalog decided (not an asteroid, not `Unknown`) with matches in the most
# catalogs — or, on a night where no catalog decided any, the alert with the most matches.
# `Crossmatcher` is the library the service runs; called on one position it returns *every* match
# within each catalog's radius, not just the nearest, and the rules say why the class was chosen.

# %%
decided = classified[~classified.classification.isin(["Unknown", "Solar System MPC"])]
print(f"{len(decided)} of the {len(classified)} alerts were decided by a catalog")
xm_columns = [c for c in classified.columns if c.startswith("xm_") and not c.endswith("_sep")]
candidates = decided if len(decided) else classified
n_catalogs = candidates[xm_columns].notna().sum(axis=1)
alert = (candidates.assign(n_catalogs=n_catalogs).sort_values(["n_catalogs", "candid"], ascending=[False, True])
         .iloc[0])
print(f"{alert.objectId} (candid {alert.candid}) at RA {alert.ra:.5f}, Dec {alert.dec:.5f}: "
      f"{alert.classification!r} because of rule(s) {alert.classification_reason!r}")

xm = Crossmatcher.open(store)
evidence = {k: np.array([np.nan if pd.isna(alert.get(k)) else alert[k]], dtype=float) for k in EVIDENCE}
res = xm.run(np.array([alert.ra]), np.array([alert.dec]), evidence)
assert res.classification[0] == alert.classification
rows = []
for name, m in res.matches.items():
    for j in range(len(m.alert)):
        rows.append({"catalog": name, "id": m.id[j], "label": m.label[j],
                     "separation (arcsec)": round(m.sep_arcsec[j], 2),
                     "catalog radius": xm.catalogs[name].manifest.radius_arcsec})
display(pd.DataFrame(rows))  # noqa: F821
rules = {r.name: r for r in Classifier().rules}
for name in filter(None, (alert.classification_reason or "").split("+")):
    print(f"rule {name} (rank {rules[name].rank}): {rules[name].why}")

# %% [markdown]
# ## 5. SIMBAD through CDS xMatch (online only)
#
# Fink asks the CDS xMatch service which SIMBAD object lies within 1" of each alert. msb's
# crossmatch has that backend too (`msb crossmatch --cds-url ...`, `msb_crossmatch.cds.CdsXmatch`): one
# HTTP request per batch, and a batch the service cannot reach is labelled `Fail`, never silently
# empty. The next cell tries it on the decided alerts (or the first of the night if none was);
# without network access it says so and the classification stays with the local catalogs above.

# %%
cds = CdsXmatch(timeout=10)
sample = candidates.head(20)
simbad = cds(sample.ra.to_numpy(), sample.dec.to_numpy())
online = cds.last_error is None
if online:
    print(f"CDS xMatch answered: {sum(v is not None for v in simbad)} of {len(sample)} alerts have a SIMBAD object")
    # the same crossmatch with SIMBAD as one more catalog: the rule simbad_cds (rank 2) can now fire
    with_simbad = Crossmatcher(xm.catalogs, remote=cds)
    evidence = {k: pd.to_numeric(sample[k], errors="coerce").to_numpy(float) if k in sample
                else np.full(len(sample), np.nan) for k in EVIDENCE}
    online_res = with_simbad.run(sample.ra.to_numpy(), sample.dec.to_numpy(), evidence)
    display(pd.DataFrame({"objectId": sample.objectId, "local class": sample.classification,  # noqa: F821
                          "SIMBAD main_type": simbad, "class with SIMBAD": online_res.classification}))
else:
    assert all(v == FAIL for v in simbad)
    print("OFFLINE: the CDS xMatch service is unreachable from here\n"
          f"  ({cds.last_error[:160]})\n"
          "  -> no SIMBAD types; the classification above uses the local catalogs only "
          f"({', '.join(catalogs.catalog)}).")

# %% [markdown]
# ## Exercises
#
# 1. How many alerts have an AAVSO VSX variable star within its 1.5" radius? What is their median
#    separation, and their most common VSX types?
# 2. Classify a position of your choice with `xm.run`: for example the centre of the Andromeda galaxy
#    (RA 10.6847°, Dec +41.2690°). Which catalogs match?
# 3. The rules live in `services/crossmatch/msb_crossmatch/rules.yaml`. List them by rank with `Classifier().rules`.
#    Which rank wins when a VSX variable is also a Gaia star?

# %% solution
# 1. VSX matches
vsx = classified[classified.xm_vsx.notna()]
print(f"{len(vsx)} alerts with a VSX star within 1.5\"; median separation {vsx.xm_vsx_sep.median():.2f}\"")
print(vsx.xm_vsx.value_counts().head(5).to_string())

# %% solution
# 2. the Andromeda galaxy
m31 = xm.run(np.array([10.6847]), np.array([41.2690]))
print("class:", m31.classification[0], "| rule:", m31.reason[0])
print({name: value[0] for name, value in m31.columns.items() if not name.endswith("_sep") and value[0] is not None})

# %% solution
# 3. the rules by rank
for r in sorted(Classifier().rules, key=lambda r: r.rank):
    print(f"rank {r.rank}  {r.name:22} -> {r.cls:18} {r.why}")
print("A VSX variable (rank 2) beats a Gaia star (rank 3): the lowest rank that fires decides.")
