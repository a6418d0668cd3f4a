# %% [markdown]
# # Part 3 — Filtering the stream
#
# **What you will learn**
#
# * the *quality cuts* a broker applies first (msb's presets `fink`, `ztf-pure`, `rubin`, `none`),
#   and what each keeps of a real night;
# * how to write a *filter* — a function from a pandas DataFrame of alerts to a boolean mask — and
#   run it on the stream with Spark;
# * how to publish the alerts a filter keeps to a Kafka topic of their own;
# * how to turn the filter into a *plug-in folder* that `msb stream` discovers and runs beside the
#   built-in ones.
#
# As in part 2 the night is replayed into a fresh topic of this notebook's Kafka.

# %%
import inspect
import shutil
import textwrap

import lab
import matplotlib.pyplot as plt
import pandas as pd
from confluent_kafka import Consumer, TopicPartition
from pyspark.sql import functions as F

from msb import kafka
from msb.avro import AlertDecoder
from msb_stream import filters, quality
from msb_stream.decode import DecodeSettings, settings_option
from msb_stream.job import StreamConfig, run_stream

bootstrap = lab.connect()
topic = lab.fresh_topic("ztf")
summary = lab.replay(bootstrap, lab.ztf_data(), topic).wait()
NIGHT = lab.night_label(lab.ztf_data())  # for titles
print(f"{summary.alerts} alerts replayed into {topic} at {bootstrap}")
spark = lab.spark_session()

# %% [markdown]
# ## 1. Quality cuts
#
# Most alerts are not astrophysical: subtraction artefacts, bad pixels, cosmic rays. ZTF scores each
# candidate with a real-bogus classifier (`rb`, `drb`) and counts bad pixels (`nbad`). A broker's
# first step is a *quality cut*. msb's presets (`msb_stream.quality`):

# %%
presets = pd.DataFrame([{"preset": name, "conditions": quality.describe(conds)}
                        for name, conds in quality.PRESETS.items()])
with pd.option_context("display.max_colwidth", 120):
    display(presets)  # noqa: F821 - display is an IPython built-in

# %% [markdown]
# The stream job evaluates the cut in the same Python pass that decodes the alerts (the decode
# settings carry the conditions; a row's `quality_pass` says whether it passed). We read the whole
# night with the `fink` cut and keep every row, to compare the presets on the same alerts.

# %%
settings = DecodeSettings(quality=quality.conditions("fink"))
stream = (spark.readStream.format("msbalerts").option("kafka.bootstrap.servers", bootstrap)
          .option("subscribe", topic).option("startingOffsets", "earliest")
          .option("decode", settings_option(settings)).load())
q = stream.writeStream.format("memory").queryName("night").trigger(availableNow=True).start()
q.awaitTermination()
night = spark.table("night").where(F.col("error").isNull())
passed = night.where("quality_pass").count()
print(f"{night.count()} alerts, {passed} pass the fink cut")
lab.expect((night.count(), passed), (498, 291), "alerts, and alerts that pass the fink cut")

# %% [markdown]
# The same conditions apply to a pandas frame with `quality.passes` — that is what runs inside
# each Spark task. On the whole night, preset by preset, and with a threshold edited the way
# `msb stream --cut 'rb>=0.7'` does. (The Avro floats are compared as Python floats, i.e. doubles,
# in the stream; so here: a float32 `elong` of 1.2 is not `<= 1.2` once widened to double.)

# %%
columns = [F.col(c).cast("double").alias(c) if kind == "float" else F.col(c)
           for c, kind in night.dtypes if c not in ("quality_pass", "error", "raw", "processed")]
frame = night.select(*columns).toPandas()
kept = {name: int(quality.passes(frame, quality.conditions(name)).sum()) for name in quality.PRESETS}
kept["fink, rb>=0.7"] = int(quality.passes(frame, quality.conditions("fink", ["rb>=0.7"])).sum())
print(kept)
lab.expect((kept["fink"], kept["ztf-pure"]), (291, 70), "alerts kept by fink and by ztf-pure")
assert kept["fink"] == passed and kept["none"] == night.count()  # pandas and the stream agree
assert kept["rubin"] == 0  # no ZTF alert has Rubin's reliability score, and a missing value never passes

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
ax1.bar(list(kept), list(kept.values()), color="tab:blue")
ax1.set(ylabel=f"alerts kept (of {len(frame)})", title=f"quality presets on {NIGHT}")
ax1.tick_params(axis="x", rotation=20)
ax2.hist(frame.rb, bins=40, color="tab:gray")
ax2.axvline(0.55, color="tab:red", label="fink: rb >= 0.55")
ax2.axvline(0.65, color="tab:orange", label="ztf-pure: rb >= 0.65")
ax2.set(xlabel="real-bogus score rb", ylabel="alerts", title="the real-bogus score")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Write a filter
#
# A filter takes the alerts of a micro-batch as a pandas DataFrame (the flat columns of part 2,
# `prv` a list of dicts per row) and returns a boolean mask. Ours keeps *brightening* sources: a
# positive difference (`isdiffpos` = `t`) at least 0.3 mag brighter than the previous detection in
# the same filter.
#
# msb ships five filters (`spark/msb_stream/filters/`); `known_sso` keeps alerts within 5" of a known
# asteroid. On the whole shared night (before any quality cut) it keeps 145. A night may hold no
# brightening alert at all: the cells below then say so, and the topic they fill stays empty.

# %%
def keep(alerts: pd.DataFrame) -> pd.Series:
    """isdiffpos 't' and at least 0.3 mag brighter than the last detection in the same filter."""
    def brightening(row) -> bool:
        earlier = [p for p in (row["prv"] if row["prv"] is not None else [])
                   if p["magpsf"] is not None and p["fid"] == row["fid"] and p["jd"] < row["jd"]]
        if not earlier or row["magpsf"] is None:
            return False
        last = max(earlier, key=lambda p: p["jd"])
        return row["magpsf"] <= last["magpsf"] - 0.3

    positive = alerts["isdiffpos"].isin(["t", "1"])
    rising = pd.Series([brightening(r) for _, r in alerts.iterrows()], index=alerts.index, dtype=bool)
    return positive & rising


found = filters.discover()
print("built-in filters:", ", ".join(found))
known_sso = filters.load(found["known_sso"])
lab.expect(int(known_sso(frame).sum()), 145, "alerts near a known asteroid")
good = frame[quality.passes(frame, quality.conditions("fink"))]
mine = int(keep(good).sum())
if mine:
    print(f"brightening: {mine} of the {len(good)} alerts that pass the fink cut")
else:
    print(f"this night holds no brightening alert among the {len(good)} that pass the fink cut")

# %% [markdown]
# ## 3. Run it on the stream and publish to a topic
#
# On a stream, the filter runs on each micro-batch: `mapInPandas` hands each task's rows to Python
# as pandas frames. The kept alerts go to a topic of their own through msb's Kafka *sink*
# (`msbkafka`): key `objectId`, value the `processed` record the stream job publishes (an Avro
# container, schema `msb/schemas/processed.avsc`).

# %%
out_topic = f"{topic}-brightening"
kafka.ensure_topic(kafka.wait_for_kafka(bootstrap), out_topic, partitions=1)
checkpoint = lab.out_dir("03_filtering") / "checkpoint-brightening"
shutil.rmtree(checkpoint, ignore_errors=True)


def apply_filter(batches):
    for pdf in batches:
        yield pdf[keep(pdf)]


selected = (stream.where("quality_pass").mapInPandas(apply_filter, stream.schema)
            .select(F.col("objectId").cast("binary").alias("key"), F.col("processed").alias("value")))
q = (selected.writeStream.format("msbkafka").option("kafka.bootstrap.servers", bootstrap)
     .option("topic", out_topic).option("checkpointLocation", str(checkpoint))
     .trigger(availableNow=True).start())
q.awaitTermination()

consumer = Consumer(kafka.consumer_config(bootstrap, group="bootcamp-03"))
parts = consumer.list_topics(out_topic, timeout=10).topics[out_topic].partitions
published = sum(consumer.get_watermark_offsets(TopicPartition(out_topic, p), timeout=10)[1] for p in parts)
print(f"{published} alerts published to {out_topic}")
assert published == mine
if published:
    consumer.assign([TopicPartition(out_topic, 0, 0)])
    record = AlertDecoder().decode(consumer.consume(1, timeout=10)[0].value())
    print(f"the first: {record['objectId']} magpsf {record['magpsf']:.2f}, {len(record)} fields")
consumer.close()

# %% [markdown]
# ## 4. From notebook to plug-in
#
# `msb stream` discovers filters as folders: `<name>/filter.py` with `keep(alerts)`, a `README.md`
# (its first paragraph is the description) and a `test_filter.py`. Our function becomes one:

# %%
plugins = lab.out_dir("03_filtering") / "filters"
folder = plugins / "brightening"
folder.mkdir(parents=True, exist_ok=True)
(folder / "filter.py").write_text(
    '"""Brightening: a positive source at least 0.3 mag brighter than its last detection."""\n\n'
    "import pandas as pd\n\n\n" + textwrap.dedent(inspect.getsource(keep)))
(folder / "README.md").write_text(
    "# brightening\n\nPositive difference alerts at least 0.3 mag brighter than the previous detection "
    "in the same filter: rising transients, outbursts, flares.\n")
(folder / "test_filter.py").write_text(textwrap.dedent("""\
    from msb_stream.filters import load
    from msb_stream.filters.testing import frame

    from pathlib import Path

    keep = load(Path(__file__).with_name("filter.py"))


    def test_brighter_by_0_3_mag_in_the_same_filter() -> None:
        prv = [{"jd": 1.0, "fid": 1, "magpsf": 19.0}]
        rows = [{"isdiffpos": "t", "jd": 2.0, "fid": 1, "magpsf": 18.6, "prv": prv},
                {"isdiffpos": "t", "jd": 2.0, "fid": 1, "magpsf": 18.8, "prv": prv},
                {"isdiffpos": "t", "jd": 2.0, "fid": 2, "magpsf": 18.0, "prv": prv},
                {"isdiffpos": "f", "jd": 2.0, "fid": 1, "magpsf": 18.0, "prv": prv}]
        assert keep(frame(rows)).tolist() == [True, False, False, False]
    """))
print(sorted(p.name for p in folder.iterdir()))
print("discovered:", filters.description(filters.discover([plugins])["brightening"]))

# %% [markdown]
# Now the whole stream job — the same code as `msb stream` — with the built-in filters and ours,
# on the fink cut. In a terminal:
#
# ```
# msb stream --topic <topic> --quality fink --filters-dir spark/msb_stream/filters \
#     --filters-dir out/bootcamp/03_filtering/filters --archive ... --checkpoint ... --available-now
# ```
#
# It publishes `processed`, each filter's alerts on `fink_<name>_ztf` (and `_lsst` for Rubin) in Fink's
# Livestream convention, which Fink's own client reads (README, "Subscribe"), and a Parquet archive.

# %%
work = lab.out_dir("03_filtering")
for sub in ("archive", "checkpoint"):
    shutil.rmtree(work / sub, ignore_errors=True)
result = run_stream(StreamConfig(
    bootstrap=bootstrap, topic=topic, archive=str(work / "archive"), checkpoint=str(work / "checkpoint"),
    quality="fink", available_now=True, filters_dir=[str(filters.BUILTIN_DIR), str(plugins)],
    topic_prefix=f"{topic}-", metrics_port=None))
print("\n".join(result.lines()))  # what `msb stream` prints at the end
assert result.quality_passed == passed and result.filters["brightening"] == mine

counts = pd.Series(result.filters).sort_values()
counts.plot.barh(figsize=(7, 3.5), color="tab:green", title="alerts per filter (after the fink cut)")
plt.xlabel("alerts")
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. How many alerts would the `fink` preset keep with `rb >= 0.8` instead of 0.55? Use
#    `quality.conditions` and `quality.passes` on `frame`.
# 2. Write a filter `faint` that keeps alerts fainter than magnitude 20 (`magpsf > 20`). How many of
#    the fink-quality alerts does it keep?
# 3. Read back the Parquet archive of section 4 (`work / "archive"`) with Spark: how many rows does it
#    hold, and in which `night` partition?

# %% solution
# 1. a stricter real-bogus threshold
strict = int(quality.passes(frame, quality.conditions("fink", ["rb>=0.8"])).sum())
print(f"fink with rb >= 0.8 keeps {strict} alerts (instead of {passed} with rb >= 0.55)")
assert strict <= passed


# %% solution
# 2. a filter for faint alerts
def faint(alerts: pd.DataFrame) -> pd.Series:
    return (pd.to_numeric(alerts["magpsf"], errors="coerce") > 20).fillna(False)


print(f"faint: {int(faint(good).sum())} of {len(good)}")

# %% solution
# 3. the archive
if passed:
    archive = spark.read.parquet(str(work / "archive"))
    archive.groupBy("night").count().show()
    assert archive.count() == passed
else:
    print("no alert passed the fink cut: the archive is empty")
