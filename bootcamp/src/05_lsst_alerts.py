# %% [markdown]
# # Part 5 — LSST alerts
#
# **What you will learn**
#
# * how Rubin sends alerts: the *Confluent wire format* — a magic byte, a 4-byte schema id and the
#   bare Avro datum — with the schemas kept apart, in a folder or a *schema registry*;
# * what a Rubin alert holds: the `diaSource` (this detection), the `diaObject` (the object so far),
#   their histories, and solar-system sources;
# * a light curve in *flux* (nJy) rather than magnitude, and why;
# * the same Spark reading and filtering as parts 2–3, on Rubin alerts.
#
# The data: 47 real Rubin alerts (LSSTCam, schema 10.0), from `MSB_RUBIN_DATA` or `../shared`.

# %%
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import lab
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from confluent_kafka import Consumer, TopicPartition
from pyspark.sql import functions as F

from msb import kafka
from msb.alert import summary
from msb.avro import AlertDecoder, SchemaStore, split_confluent
from msb.cutouts import stamp_array
from msb.surveys.rubin import RUBIN_BANDS, flux_to_mag, registry_id
from msb_stream import filters, quality
from msb_stream.decode import DecodeSettings, settings_option

bootstrap = lab.connect()
schemas = lab.rubin_schemas()
print("Kafka at", bootstrap, "| Rubin alerts:", lab.rubin_data(), "| schemas:", schemas)

# %% [markdown]
# ## 1. The Confluent wire format
#
# The replay can re-frame each packet the way Rubin's alert stream does (`msb replay --wire-format
# confluent`): the schema leaves the message, only its id stays. Rubin numbers its alert schemas
# `major * 100 + minor`: 10.0 is id 1000.

# %%
topic = lab.fresh_topic("rubin")
replayed = lab.replay(bootstrap, lab.rubin_data(), topic, wire_format="confluent").wait()
print(f"{replayed.alerts} alerts in {replayed.visits} visits, {replayed.bytes / 1e6:.1f} MB")
lab.expect(replayed.alerts, 47, "Rubin alerts replayed", survey="rubin")

consumer = Consumer(kafka.consumer_config(bootstrap, group="bootcamp-05"))
messages = []
for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:  # read every partition
    end = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
    consumer.assign([TopicPartition(topic, p, 0)])
    got = []
    for _ in range(20):
        if len(got) >= end:
            break
        got += [m for m in consumer.consume(end - len(got), timeout=2) if m.error() is None]
    messages += got
consumer.close()
value = messages[0].value()
schema_id, datum = split_confluent(value)
print(f"first bytes {value[:5].hex(' ')}: magic {value[0]}, schema id {schema_id}; datum {len(datum)} bytes")
assert len(messages) == replayed.alerts
lab.expect(schema_id, 1000, "schema id (v10.0)", survey="rubin")

# %% [markdown]
# Without its schema a datum is unreadable. `msb.avro.SchemaStore` finds schemas by id in a local
# folder (Rubin's layout: `10.0/lsst.v10_0.alert.avsc` and its named sub-schemas)...

# %%
try:
    AlertDecoder().decode(value)
except ValueError as exc:
    print("without schemas:", exc)
local = AlertDecoder(SchemaStore(schemas))
alert = local.decode(value)
print("top-level fields:", list(alert))

# %% [markdown]
# ... or from a schema registry, the HTTP service Rubin runs beside its Kafka:
# `GET /schemas/ids/<id>` answers `{"schema": "<the schema as JSON text>"}`. A toy registry
# serving the combined schemas of `../shared` (`lsst_alert_vX_Y_combined.avsc`, id `X*100+Y`) shows
# the exchange; point `SchemaStore(registry_url=...)` at Rubin's to read the live stream.

# %%
combined = {}
for path in schemas.parent.glob("lsst_alert_v*_combined.avsc"):
    major, minor = re.search(r"_v(\d+)_(\d+)_", path.name).groups()
    combined[registry_id(int(major), int(minor))] = path.read_text()
print("the toy registry serves schema ids", sorted(combined))
requests_seen = []


class Registry(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        requests_seen.append(self.path)
        schema = combined.get(int(self.path.rsplit("/", 1)[-1])) if self.path.startswith("/schemas/ids/") else None
        body = json.dumps({"schema": schema} if schema else {"error_code": 40403}).encode()
        self.send_response(200 if schema else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


registry = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
threading.Thread(target=registry.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{registry.server_address[1]}"
remote = AlertDecoder(SchemaStore(registry_url=url))
same = [remote.decode(m.value())["diaSourceId"] for m in messages]
print(f"decoded {len(same)} alerts with the schema from {url}; requests: {requests_seen}")
ids = {split_confluent(m.value())[0] for m in messages}
assert sorted(requests_seen) == sorted(f"/schemas/ids/{i}" for i in ids)  # each schema fetched once, then cached
registry.shutdown()

# %% [markdown]
# ## 2. diaSource, diaObject, solar-system sources
#
# Rubin calls a detection on a difference image a **diaSource**; detections at the same place are
# associated into a **diaObject**, which carries per-band summaries (mean fluxes, counts). Moving
# objects are associated with known solar-system objects instead (`ssSource`, `ssObjectId`) and
# have no diaObject. Fluxes are in nanojansky (nJy); `msb.alert.summary` adds an AB magnitude.

# %%
records = [local.decode(m.value()) for m in messages]
table = pd.DataFrame([{**summary(r), "psfFlux": r["diaSource"]["psfFlux"], "snr": r["diaSource"]["snr"],
                       "has diaObject": r["diaObject"] is not None, "solar system": r["ssSource"] is not None,
                       "n prvDiaSources": len(r["prvDiaSources"] or [])} for r in records])
neither = int((~table["has diaObject"] & ~table["solar system"]).sum())
print(table["has diaObject"].sum(), "with a diaObject;", table["solar system"].sum(), "solar-system sources;",
      neither, "with neither")
table.head(8)

# %%
obj = next((r["diaObject"] for r in records if r["diaObject"] is not None), None)
if obj is None:
    print("none of these alerts carries a diaObject")
else:
    print({k: v for k, v in obj.items() if k.startswith(("diaObjectId", "ra", "dec", "nDiaSources", "i_psfFlux"))})

# %% [markdown]
# ## 3. A light curve in flux
#
# Difference-image fluxes can be *negative* (the source got fainter than in the template), where a
# magnitude does not exist. Rubin's alerts therefore report fluxes; the history comes in
# `prvDiaSources` (detections) and `prvDiaForcedSources` (forced photometry at the object's position).
# The alert with the longest history (23 detections on the shared alerts):

# %%
rich = max(records, key=lambda r: len(r["prvDiaSources"] or []))
points = pd.DataFrame([*(rich["prvDiaSources"] or []), rich["diaSource"]])
print(f"diaObject {rich['diaSource']['diaObjectId']}: {len(points)} detections, bands {sorted(points.band.unique())}")
lab.expect(len(points), 23, "detections in the longest history", survey="rubin")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.2))
for band, grp in points.groupby("band"):
    ax1.errorbar(grp.midpointMjdTai, grp.psfFlux, yerr=grp.psfFluxErr, fmt="o", label=band)
    mags = [flux_to_mag(f) for f in grp.psfFlux]
    ax2.scatter(grp.midpointMjdTai, mags, label=band)
ax1.axhline(0, color="gray", lw=0.5)
ax1.set(xlabel="MJD (TAI)", ylabel="psfFlux (nJy)", title="difference flux, with errors")
ax2.invert_yaxis()
ax2.set(xlabel="MJD (TAI)", ylabel="AB magnitude", title="the same as magnitudes (positive fluxes only)")
ax1.legend(title="band")
plt.tight_layout()
plt.show()

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
for ax, kind in zip(axes, ("Science", "Template", "Difference"), strict=True):
    ax.axis("off")
    if not rich[f"cutout{kind}"]:  # a stamp can be missing
        ax.set_title(f"{kind.lower()}: no stamp")
        continue
    img = stamp_array(rich[f"cutout{kind}"])
    lo, hi = np.nanpercentile(img, [1, 99.5])
    ax.imshow(img, origin="lower", cmap="gray", vmin=lo, vmax=hi)
    ax.set_title(f"{kind.lower()} {img.shape[0]}x{img.shape[1]}")
plt.show()

# %% [markdown]
# ## 4. The same Spark stream, on Rubin alerts
#
# msb's decoder flattens Rubin alerts into the same columns as ZTF's (`candid` = diaSourceId,
# `objectId` = diaObjectId, `magpsf` from psfFlux, `fid` from the band) plus Rubin's own
# (`reliability`, `snr`, `psfFlux`, `ssObjectId`, ...). With the schema folder in the decode
# settings, `msbalerts` reads the Confluent-framed topic. The quality preset `rubin` keeps
# `reliability >= 0.6`; the built-in filters `rubin_high_reliability` and `known_sso` run too.

# %%
spark = lab.spark_session()
settings = DecodeSettings(schema_dir=str(schemas), quality=quality.conditions("rubin"),
                          filters=filters.select(["rubin_high_reliability", "known_sso"]))
stream = (spark.readStream.format("msbalerts").option("kafka.bootstrap.servers", bootstrap)
          .option("subscribe", topic).option("startingOffsets", "earliest")
          .option("decode", settings_option(settings)).load())
q = stream.writeStream.format("memory").queryName("rubin").trigger(availableNow=True).start()
q.awaitTermination()
rubin = spark.table("rubin")
assert rubin.where(F.col("error").isNotNull()).count() == 0
rubin.select("survey", "objectId", "candid", "band", "psfFlux", "magpsf", "reliability", "ssObjectId",
             "quality_pass", "filters").show(6, truncate=False)

# %%
frame = rubin.select("reliability", "ssObjectId", "quality_pass", "filters").toPandas()
expected = int((frame.reliability >= 0.6).sum())
per_filter = {name: int(sum(name in f for f in frame.filters)) for name in settings.filters}
print(f"{len(frame)} alerts, {int(frame.quality_pass.sum())} pass the rubin cut; per filter: {per_filter}")
assert len(frame) == replayed.alerts and int(frame.quality_pass.sum()) == expected
assert per_filter["known_sso"] == int(((frame.ssObjectId.fillna(0) > 0) & frame.quality_pass).sum())

plt.figure(figsize=(7, 3.8))
plt.hist(frame.reliability, bins=20, color="tab:purple")
plt.axvline(0.6, color="tab:red", label="rubin preset: reliability >= 0.6")
plt.xlabel("reliability")
plt.ylabel("alerts")
plt.legend()
plt.title("Rubin's real/bogus score")
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Which Rubin bands exist, and what `fid` does msb give each (`msb.alert.RUBIN_BANDS`)? Which bands
#    do these alerts use?
# 2. Convert 1000 nJy and -50 nJy to AB magnitudes with `flux_to_mag`. What happens to the negative
#    flux, and why does Rubin report fluxes?
# 3. How many of the alerts would a stricter cut, `reliability >= 0.9`, keep? Use
#    `quality.conditions("rubin", [...])` and `quality.passes` on a pandas frame.

# %% solution
# 1. bands
print(RUBIN_BANDS, "| used here:", sorted(table.band.unique()))

# %% solution
# 2. fluxes and magnitudes
print(flux_to_mag(1000.0), flux_to_mag(-50.0))
print("-50 nJy has no magnitude: a difference flux can be negative, so fluxes keep the information")

# %% solution
# 3. a stricter reliability cut
strict = quality.passes(frame, quality.conditions("rubin", ["reliability>=0.9"]))
print(f"{int(strict.sum())} of {len(frame)}")
