# %% [markdown]
# # Part 1 — The alert system
#
# **What you will learn**
#
# * how a survey turns each exposure into *alerts*, and how many of them ZTF and Rubin (LSST) send;
# * what one alert holds, field by field, read from the real Avro schemas;
# * the anatomy of a packet: how many of its bytes are image cutouts, measurements, history;
# * why alerts arrive in *bursts*, one per visit, and where on the sky a night's alerts lie.
#
# Everything here reads real packets from disk with msb's library (`msb.sources`, `msb.avro`,
# `msb.alert`): no Kafka and no Spark yet (they come in part 2). The data is the public ZTF night
# of 2018-11-29 (498 alerts) and 47 Rubin alerts; set `MSB_DATA` / `MSB_RUBIN_DATA` to use others.
#
# Run the cells from top to bottom (*Run > Run All Cells*). Exercises, with solutions, are at the end.

# %%
import json

import lab
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from msb import paths
from msb.alert import packet_info, summary
from msb.avro import AlertDecoder, SchemaStore
from msb.sources import Packet, iter_packets

ZTF, RUBIN = lab.ztf_data(), lab.rubin_data()
NIGHT = lab.night_label(ZTF)  # for titles: 2018-11-29 on the shared night
print("ZTF alerts:  ", ZTF)
print("Rubin alerts:", RUBIN)

# %% [markdown]
# ## 1. Surveys, cadence and volumes
#
# A survey telescope takes an exposure every 30–40 s. A difference-imaging pipeline subtracts a
# reference image of the same field; every significant residual (a *DIA source*) becomes an alert,
# published within minutes. A *broker* receives them all and must keep up.
#
# | | ZTF | Rubin (LSST) |
# |---|---|---|
# | field of view | 47 deg² | 9.6 deg² |
# | exposure / visit | 30 s, every ~40 s | 30 s, every ~40 s |
# | alerts per night | up to ~1 million | ~10 million |
# | alerts per visit | hundreds to thousands | up to ~10,000 |
# | packet size | 55–75 KB | 60–180 KB |
# | wire format | one Avro container file per alert (schema inside) | Confluent: magic byte, schema id, Avro datum |
#
# What does that mean for a broker's network and disk? A quick calculation:

# %%
visit_s = 40
for survey, per_visit, kb in (("ZTF", 1_000, 65), ("Rubin", 10_000, 120)):
    mb_per_s = per_visit * kb / 1e3 / visit_s
    print(f"{survey:6} {per_visit:>6} alerts/visit x {kb} KB = {mb_per_s:5.1f} MB/s during the night, "
          f"{mb_per_s * 3600 * 8 / 1e3:5.0f} GB in an 8-hour night")

# %% [markdown]
# ## 2. Reading a night of alerts
#
# ZTF publishes each night as a tarball of `<candid>.avro` files, one alert each.
# `msb.sources.iter_packets` streams packets from folders or tarballs one at a time (memory stays
# flat), and `msb.alert.packet_info` reads just the leading fields of each packet — its key
# (`objectId`), its visit and its time — without decoding the rest. That is what the replay
# producer uses to send a night visit by visit.

# %%
decoder = AlertDecoder()
packets = [p for p in iter_packets([ZTF]) if isinstance(p, Packet)]
rows = []
for p in packets:
    info = packet_info(decoder, p.data)
    rows.append({"candid": info.alert_id, "objectId": info.key.decode(), "visit": info.visit, "jd": info.jd,
                 "bytes": len(p.data)})
night = pd.DataFrame(rows)
print(f"{len(night)} alerts, {night.bytes.sum() / 1e6:.1f} MB, {night.objectId.nunique()} distinct objects")
lab.expect(len(night), 498, "alerts in the night")
night.head()

# %% [markdown]
# ## 3. What one alert holds
#
# Decoding a packet gives a Python dict. `msb.alert.summary` picks the columns an astronomer looks
# at first, with the same names for ZTF and Rubin.

# %%
first = decoder.decode(packets[0].data)
print("top-level fields:", list(first))
summary(first)

# %% [markdown]
# The `candidate` record is the detection that triggered the alert: 100+ measurements. Their
# meaning is in the schema's `doc` strings. The real ZTF schemas are in `../shared` (schema 3.3;
# this night was written with 3.2, which has the same candidate fields); here is the table:

# %%
schema_dir = paths.shared_dir() / "data" / "ztf" / "schema" / "3.3"
candidate_schema = json.loads((schema_dir / "candidate.avsc").read_text())
fields = pd.DataFrame(
    [{"field": f["name"], "type": f["type"] if isinstance(f["type"], str) else " | ".join(map(str, f["type"])),
      "doc": f.get("doc", ""), "value in the first alert": first["candidate"].get(f["name"])}
     for f in candidate_schema["fields"]])
print(f"{len(fields)} candidate fields")
with pd.option_context("display.max_rows", 200, "display.max_colwidth", 90):
    display(fields)  # noqa: F821 - display is an IPython built-in

# %% [markdown]
# A few to remember: `ra`, `dec` (position), `magpsf ± sigmapsf` (PSF-fit magnitude in the
# difference image), `fid` (filter: 1 = g, 2 = r, 3 = i), `isdiffpos` (`t`: brighter than the
# reference), `rb`/`drb` (real-bogus scores from machine learning), `nbad`, `fwhm`, `elong`,
# `magdiff` (image quality), `ssdistnr` (distance to the nearest known asteroid, arcsec),
# `sgscore1`/`distpsnr1` (star-galaxy score and distance of the nearest PS1 source), `ndethist`
# (number of earlier detections). Part 3 filters on them.
#
# Beside `candidate`, an alert carries `prv_candidates` — up to 30 days of earlier detections
# and upper limits at this position, so that a light curve comes with the alert — and three
# image *cutouts*: science, template (reference) and difference, each a 63×63 gzipped FITS stamp.

# %%
prv = first["prv_candidates"] or []
print(f"{first['objectId']}: {len(prv)} previous entries, "
      f"{sum(p['magpsf'] is not None for p in prv)} detections and "
      f"{sum(p['magpsf'] is None for p in prv)} upper limits (non-detections)")
{k: (v["fileName"], len(v["stampData"])) if v else "no stamp" for k, v in first.items() if k.startswith("cutout")}

# %% [markdown]
# ## 4. Packet anatomy
#
# Where do a packet's bytes go? Each ZTF packet is a whole Avro container file: a header with the
# writer schema (as JSON text!), then the datum. `AlertDecoder.writer_schema` splits the two; the
# cutouts are counted from the decoded stamps, and the rest is measurements and history.

# %%
anatomy = []
for p in packets:
    _, datum = decoder.writer_schema(p.data)
    rec = decoder.decode(p.data)
    cut = sum(len(rec[k]["stampData"]) for k in ("cutoutScience", "cutoutTemplate", "cutoutDifference")
              if rec.get(k))
    anatomy.append({"header (schema)": len(p.data) - len(datum), "cutouts": cut,
                    "measurements + history": len(datum) - cut, "n_prv": len(rec["prv_candidates"] or [])})
anatomy = pd.DataFrame(anatomy)
share = anatomy.drop(columns="n_prv").sum() / night.bytes.sum()
print((100 * share).round(1).astype(str) + " %")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
ax1.hist(night.bytes / 1e3, bins=40, color="tab:blue")
ax1.set(xlabel="packet size (KB)", ylabel="alerts", title=f"ZTF packet sizes, {NIGHT}")
mean = anatomy.drop(columns="n_prv").mean() / 1e3
ax2.barh(mean.index, mean.values, color=["tab:gray", "tab:orange", "tab:green"])
ax2.set(xlabel="mean KB per packet", title="where the bytes go")
plt.tight_layout()
plt.show()
print(f"the largest share of this night's bytes: {share.idxmax()} ({share.max():.0%})")
lab.expect((round(100 * share["cutouts"]), round(100 * share["header (schema)"])), (61, 34),
           "percent of the bytes in cutouts, and in the schema")

# %% [markdown]
# On the shared night the cutouts are most of the bytes (61 %), and a third of each ZTF packet is
# its own schema, repeated in every message: the price of self-describing files. Rubin's wire
# format (part 5) sends only a 4-byte schema id instead.
#
# The history is what makes packets grow: an object seen many times carries a long
# `prv_candidates` list.

# %%
plt.figure(figsize=(6, 4))
plt.scatter(anatomy.n_prv, anatomy["measurements + history"] / 1e3, s=8)
plt.xlabel("entries in prv_candidates")
plt.ylabel("measurements + history (KB)")
plt.title("history grows the packet")
plt.show()

# %% [markdown]
# ## 5. Visits are bursts
#
# All alerts of one exposure share its time `jd`: they are produced together, and a broker sees
# them arrive as one burst, then nothing until the next visit. The shared night holds three exposures.

# %%
visits = night.groupby("visit").agg(alerts=("candid", "size"), jd=("jd", "first"), MB=("bytes", "sum"))
visits["MB"] = (visits.MB / 1e6).round(2)
visits["minutes after the first"] = ((visits.jd - visits.jd.min()) * 24 * 60).round(1)
visits = visits.sort_values("jd")
print(visits)
lab.expect(len(visits), 3, "visits (exposures)")

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.stem(visits["minutes after the first"], visits.alerts, basefmt=" ")  # one burst per visit, nothing between
ax.set(xlabel="minutes after the first exposure", ylabel="alerts", title=f"alerts per visit, {NIGHT}")
plt.show()

# %% [markdown]
# ## 6. Where on the sky
#
# A ZTF exposure covers 47 deg² (16 CCDs of 4 quadrants). A Mollweide projection of the alert
# positions, one colour per visit:

# %%
pos = pd.DataFrame([summary(decoder.decode(p.data)) for p in packets])
pos["visit"] = night.visit.values
fig = plt.figure(figsize=(10, 5))
ax = fig.add_subplot(111, projection="mollweide")
for i, (_, grp) in enumerate(pos.groupby("visit")):
    ra = np.radians(180 - grp.ra)  # astronomers' convention: RA grows to the left
    ax.scatter(ra, np.radians(grp.dec), s=6, label=f"visit {i + 1} ({len(grp)} alerts)")
ax.set_xticklabels([f"{h}h" for h in range(22, 0, -2)])
ax.grid(True)
if pos.visit.nunique() <= 10:  # a night of many small visits would bury the map under its legend
    ax.legend(loc="upper left", fontsize=8)
ax.set_title(f"ZTF alerts of {NIGHT}, {pos.visit.nunique()} visit(s) (RA increases to the left)")
plt.show()

# %% [markdown]
# ## 7. Rubin alerts
#
# Rubin alerts are Avro too, with a different schema: `diaSource` (the detection, fluxes in nJy
# instead of magnitudes), `diaObject` (what is known about the object so far),
# `prvDiaSources` and `prvDiaForcedSources` (its history), and the cutouts. The shared copies are
# container files; on the wire Rubin sends the bare datum behind a schema id (part 5). The same
# `packet_info` and `summary` work on them:

# %%
store = SchemaStore(lab.rubin_schemas())
rubin_decoder = AlertDecoder(store)
rubin_packets = [p for p in iter_packets([RUBIN]) if isinstance(p, Packet)]
rubin = pd.DataFrame([{**summary(rubin_decoder.decode(p.data)), "bytes": len(p.data),
                       "visit": packet_info(rubin_decoder, p.data).visit} for p in rubin_packets])
print(f"{len(rubin)} Rubin alerts, {rubin.visit.nunique()} visits, "
      f"mean packet {rubin.bytes.mean() / 1e3:.0f} KB (ZTF: {night.bytes.mean() / 1e3:.0f} KB)")
lab.expect(len(rubin), 47, "Rubin alerts", survey="rubin")
rubin.head()

# %%
dia_source = json.loads((lab.rubin_schemas() / "10.0" / "lsst.v10_0.diaSource.avsc").read_text())
table = pd.DataFrame([{"field": f["name"], "doc": f.get("doc", "")} for f in dia_source["fields"]])
print(f"diaSource has {len(table)} fields; the first 25:")
with pd.option_context("display.max_colwidth", 100):
    display(table.head(25))  # noqa: F821

# %%
plt.figure(figsize=(7, 4))
plt.hist(night.bytes / 1e3, bins=30, alpha=0.7, label="ZTF (2018-11-29)")
plt.hist(rubin.bytes / 1e3, bins=15, alpha=0.7, label="Rubin (v10.0)")
plt.xlabel("packet size (KB)")
plt.ylabel("alerts")
plt.legend()
plt.title("packet sizes")
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. How many of the night's objects have more than one alert? Which object has the most?
# 2. Over the whole night, how many previous entries are detections and how many are upper limits
#    (`magpsf` null)?
# 3. Rubin plans ~10,000 alerts per visit. With the mean Rubin packet size measured above and one
#    visit every 40 s, how many MB/s must a broker ingest? How long would this night's ZTF alerts
#    last at that rate?
#
# Solutions are below (click the collapsed cells to reveal them).

# %% solution
# 1. objects with more than one alert
counts = night.objectId.value_counts()
if counts.iloc[0] > 1:
    print(f"{(counts > 1).sum()} objects have more than one alert; the most: {counts.index[0]} ({counts.iloc[0]})")
else:
    print(f"no object has more than one alert this night ({len(counts)} objects, one alert each)")

# %% solution
# 2. detections and upper limits in the histories
entries = [p for packet in packets for p in decoder.decode(packet.data)["prv_candidates"] or []]
limits = sum(p["magpsf"] is None for p in entries)
print(f"{len(entries)} previous entries: {len(entries) - limits} detections, {limits} upper limits")

# %% solution
# 3. Rubin's ingest rate
rate = 10_000 * rubin.bytes.mean() / 1e6 / 40
print(f"{rate:.0f} MB/s; the night's {night.bytes.sum() / 1e6:.0f} MB would last "
      f"{night.bytes.sum() / 1e6 / rate:.1f} s")
