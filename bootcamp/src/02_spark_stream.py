# %% [markdown]
# # Part 2 — Connect Spark to the stream
#
# **What you will learn**
#
# * how alerts travel: a producer (msb's *replay*) writes them into a Kafka *topic*, split into
#   *partitions*, each an append-only log numbered by *offsets*;
# * how Spark Structured Streaming reads a topic, micro-batch by micro-batch, through msb's Kafka
#   source (a PySpark Python Data Source), and decodes alerts into a typed DataFrame;
# * how to look at one object: its light curve from the alert's history (with error bars and upper
#   limits) and its three image cutouts.
#
# Kafka: with `make lab` the notebooks use the lab's broker (`MSB_BOOTSTRAP`), where a replay loops
# the night forever into topic `raw`. Opened any other way, this notebook starts its own embedded
# broker (tansu, in memory). Either way it replays the night into a fresh topic of its own, so the
# numbers below are always the same.

# %%
import time

import lab
import matplotlib.pyplot as plt
import numpy as np
from confluent_kafka import Consumer, TopicPartition
from pyspark.sql import functions as F

from msb import kafka
from msb.cutouts import stamp_array
from msb_stream.decode import DecodeSettings, settings_option

bootstrap = lab.connect()
print("Kafka at", bootstrap)

# %% [markdown]
# ## 1. The stream: replay a night into Kafka
#
# In a terminal this is `msb replay --data <night> --topic raw --visit-interval 1`: one visit (one
# burst) per second. Here the same library call runs in a background thread; a night of more than
# four visits goes faster, so that it is all in within 4 s. Each message's key is the `objectId`, so
# all alerts of one object go to the same partition, in order.

# %%
topic = lab.fresh_topic("ztf")
interval = lab.visit_interval(lab.ztf_data(), within=4.0)  # 1 s on the shared night of three visits
print(f"one visit every {interval:.2g} s")
replay = lab.replay(bootstrap, lab.ztf_data(), topic, visit_interval=interval, partitions=2)

consumer = Consumer(kafka.consumer_config(bootstrap, group="bootcamp-peek"))
for tick in range(1, 9):  # watch the topic grow, burst by burst
    time.sleep(0.5)
    meta = consumer.list_topics(topic, timeout=5).topics.get(topic)
    parts = sorted(meta.partitions) if meta and meta.partitions else []
    ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in parts]
    print(f"t={tick * 0.5:3.1f} s  messages per partition: {ends}  total {sum(ends)}")
summary = replay.wait()
print(f"replay done: {summary.alerts} alerts in {summary.visits} visits, {summary.bytes / 1e6:.1f} MB")
lab.expect((summary.alerts, summary.visits), (498, 3), "alerts and visits replayed")

# %% [markdown]
# Under `make lab`, the lab's own replay keeps feeding topic `raw` (one visit every 30 s, the night
# looping forever). Its size right now:

# %%
topics = consumer.list_topics(timeout=5).topics
if "raw" in topics:
    n = sum(consumer.get_watermark_offsets(TopicPartition("raw", p), timeout=5)[1] for p in topics["raw"].partitions)
    print(f"topic raw (the lab's looping replay): {n} alerts so far; set topic = 'raw' to play with it")
else:
    print("no topic 'raw' here: this notebook runs on its own broker (start it with `make lab` for the live one)")
consumer.close()

# %% [markdown]
# ## 2. Spark reads the topic
#
# Spark's own Kafka connector is a JVM jar from Maven. msb brings a Kafka source written in Python
# on PySpark's Data Source API (`spark/msb_stream/kafka_source.py`), with the same options and columns:
# format `msbkafka`. `lab.spark_session()` is `msb_stream.session.build_session`: a local session
# (`local[2]`) with msb's sources registered. Starting it takes ~20 s.

# %%
spark = lab.spark_session()
raw = (spark.readStream.format("msbkafka")
       .option("kafka.bootstrap.servers", bootstrap)
       .option("subscribe", topic)
       .option("startingOffsets", "earliest")
       .load())
raw.printSchema()

# %% [markdown]
# `value` holds the Avro packet. Rather than ship 60 KB packets into the JVM and back to decode
# them, msb's stream job reads *and* decodes in the same Python task: format `msbalerts`, with the
# decoding settings as an option (`msb_stream.decode.DecodeSettings`). Each alert becomes a flat row:
# ZTF's candidate fields as columns, the history as `prv` (an array of structs), and here the
# cutouts too (`keep_cutouts`).
#
# A streaming query runs micro-batches. `trigger(availableNow=True)` processes what the topic holds
# now and stops (in production the query runs forever); the `memory` sink keeps the rows in a table
# we can query.

# %%
settings = DecodeSettings(keep_cutouts=True)
alerts_stream = (spark.readStream.format("msbalerts")
                 .option("kafka.bootstrap.servers", bootstrap)
                 .option("subscribe", topic)
                 .option("startingOffsets", "earliest")
                 .option("decode", settings_option(settings))
                 .load())
t0 = time.monotonic()
query = (alerts_stream.writeStream.format("memory").queryName("alerts")
         .trigger(availableNow=True).start())
query.awaitTermination()
print(f"{len(query.recentProgress)} micro-batch(es) in {time.monotonic() - t0:.0f} s")
alerts = spark.table("alerts").where(F.col("error").isNull()).cache()
n = alerts.count()
print(f"{n} alerts decoded")
assert n == summary.alerts  # every replayed alert, decoded

# %%
print(len(alerts.columns), "columns, e.g.", alerts.columns[:12])
alerts.select("objectId", "candid", "jd", "ra", "dec", "fid", "magpsf", "sigmapsf", "rb", "partition",
              "offset").show(5)
(alerts.groupBy("fid").agg(F.count("*").alias("alerts"), F.round(F.avg("magpsf"), 2).alias("mean magpsf"))
 .orderBy("fid").show())

# %% [markdown]
# ## 3. One object's light curve
#
# Each alert carries the object's recent history (`prv`): earlier *detections* (with `magpsf ±
# sigmapsf`) and *non-detections*, where only the limiting magnitude `diffmaglim` is known: the
# object was fainter than that — an upper limit on its brightness. Take the alert whose history
# holds the most of both (on the shared night, one has both; another night may hold only limits):

# %%
n_det = F.size(F.filter("prv", lambda p: p["magpsf"].isNotNull()))
n_lim = F.size(F.filter("prv", lambda p: p["magpsf"].isNull()))
best = (alerts.withColumn("n_prv", F.size("prv"))
        .orderBy(F.desc(F.least(n_det, n_lim)), F.desc("n_prv"), "candid").first())
print(f"{best.objectId}: {best.n_prv} previous entries; this alert: jd {best.jd:.4f}, magpsf {best.magpsf:.2f}")
history = (alerts.where(F.col("candid") == best.candid).select(F.explode("prv").alias("p")).select("p.*")
           .toPandas())
current = {"jd": best.jd, "fid": best.fid, "magpsf": best.magpsf, "sigmapsf": best.sigmapsf,
           "diffmaglim": best.diffmaglim}
detections = history[history.magpsf.notna()]
limits = history[history.magpsf.isna()]
print(f"{len(detections)} detections and {len(limits)} upper limits before this alert")
if detections.empty or limits.empty:
    print("no alert of this night has both earlier detections and upper limits: the plot shows what there is")

# %%
colors = {1: "tab:green", 2: "tab:red", 3: "tab:orange"}
names = {1: "g", 2: "r", 3: "i"}
t_ref = best.jd
fig, ax = plt.subplots(figsize=(9, 4.5))
for fid, grp in detections.groupby("fid"):
    ax.errorbar(grp.jd - t_ref, grp.magpsf, yerr=grp.sigmapsf, fmt="o", color=colors[fid], label=f"{names[fid]}")
for fid, grp in limits.groupby("fid"):
    ax.scatter(grp.jd - t_ref, grp.diffmaglim, marker="v", facecolors="none", edgecolors=colors[fid],
               label=f"{names[fid]} upper limit")
ax.errorbar([0], [current["magpsf"]], yerr=[current["sigmapsf"]], fmt="*", ms=14, color=colors[current["fid"]],
            label="this alert")
ax.invert_yaxis()  # magnitudes: brighter is up
ax.set(xlabel="days before this alert", ylabel="magnitude", title=f"{best.objectId}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 4. Its cutouts
#
# Three 63×63 stamps, gzipped FITS: the new image (science), the reference (template) and their
# difference. `msb.cutouts.stamp_array` turns a stamp into a numpy array. A real transient is a
# point source in the difference image. (A stamp can be missing: the alert then says so.)

# %%
def show_cutouts(row, title):
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    for ax, kind in zip(axes, ("Science", "Template", "Difference"), strict=True):
        ax.set_title(kind.lower())
        ax.axis("off")
        if not row[f"cutout{kind}"]:
            ax.text(0.5, 0.5, "no stamp", ha="center", va="center", transform=ax.transAxes)
            continue
        img = stamp_array(row[f"cutout{kind}"])
        lo, hi = np.nanpercentile(img, [1, 99.5])
        ax.imshow(img, origin="lower", cmap="gray", vmin=lo, vmax=hi)
    fig.suptitle(title)
    plt.show()


show_cutouts(best.asDict(), f"{best.objectId}  candid {best.candid}")

# %% [markdown]
# ## Exercises
#
# 1. The replay keys each message by `objectId`. Check that every object's alerts sit in a single
#    Kafka partition.
# 2. Find the brightest alert of the night (smallest `magpsf`) and show its cutouts.
# 3. Read the topic again with the option `maxOffsetsPerTrigger` set to 100 (at most 100 messages per
#    micro-batch, shared out between the partitions). How many micro-batches does the query run?
#    (`query.recentProgress` lists them.)

# %% solution
# 1. one partition per object
per_object = alerts.groupBy("objectId").agg(F.countDistinct("partition").alias("partitions"))
assert per_object.where("partitions > 1").count() == 0
print(f"{per_object.count()} objects, each in exactly one partition")

# %% solution
# 2. the brightest alert
brightest = alerts.where(F.col("magpsf").isNotNull()).orderBy("magpsf").first()
print(f"{brightest.objectId}: magpsf {brightest.magpsf:.2f} (filter {names[brightest.fid]})")
show_cutouts(brightest.asDict(), f"brightest: {brightest.objectId}")

# %% solution
# 3. at most 100 messages per micro-batch
limited = (spark.readStream.format("msbalerts").option("kafka.bootstrap.servers", bootstrap)
           .option("subscribe", topic).option("startingOffsets", "earliest").option("maxOffsetsPerTrigger", "100")
           .option("decode", settings_option(DecodeSettings())).load())
q = limited.writeStream.format("memory").queryName("limited").trigger(availableNow=True).start()
q.awaitTermination()
batches = [p for p in q.recentProgress if p["numInputRows"] > 0]
print(f"{len(batches)} micro-batches of", [p["numInputRows"] for p in batches], "rows")
assert sum(p["numInputRows"] for p in batches) == summary.alerts
assert all(p["numInputRows"] <= 100 for p in batches)
