"""alsflow's Spark driver: fits Spark MLlib's implicit ALS for the train and tune stages.

alsflow starts it with `spark-submit [options] alsflow_spark.py JOB.json`, where JOB.json
(written by alsflow into a staging directory every executor can read) names:

- "input": a Parquet file of interactions with columns user_idx, item_idx, value
  (and fold, for tune): the split stage's artifact, as alsflow stored it;
- "checkpoint_dir": where Spark checkpoints the factor lineage (without one, Spark
  ignores checkpointInterval and overflows its stack after ~30 iterations);
- "num_blocks", "checkpoint_interval": Spark's blocking and checkpointing;
- "fits": one entry per ALS fit, with its parameters, the fold it leaves out (or
  null for all rows) and the directory its factors are written to.

Every fit runs in this one Spark application (the JVM starts once). Each fit's user
and item factors are written as Parquet directories (`user_factors`, `item_factors`:
columns id int, features array<float>), and only then announced on stdout.

Protocol on stdout: one line per event, `ALSFLOW {json}`; alsflow reads these lines
and ignores every other line. Events: "started" (Spark's version and the application
id), "progress" (the active Spark stage's task counts), "fit_done" (index of the fit
whose factors are complete), "done". Spark's own logging goes to stderr, whose last
lines alsflow shows when the application fails.
"""

import json
import sys
import threading
import time

PREFIX = "ALSFLOW "


def emit(event, **fields):
    """One protocol line on stdout, flushed at once so alsflow sees progress live."""
    sys.stdout.write(PREFIX + json.dumps(dict(event=event, **fields)) + "\n")
    sys.stdout.flush()


def watch_progress(sc, stop):
    """Report the task counts of the active Spark stages twice a second."""
    tracker = sc.statusTracker()
    last = None
    while not stop.wait(0.5):
        try:
            stages = [tracker.getStageInfo(s) for s in tracker.getActiveStageIds()]
        except Exception:  # the context is shutting down
            return
        stages = [s for s in stages if s is not None]
        if not stages:
            continue
        stage = max(stages, key=lambda s: s.stageId)
        now = (stage.stageId, stage.numCompletedTasks, stage.numTasks)
        if now != last:
            last = now
            emit(
                "progress",
                stage=stage.stageId,
                name=stage.name.split(" at ")[0],
                tasks_done=stage.numCompletedTasks,
                tasks=stage.numTasks,
            )


def main(job_path):
    with open(job_path) as f:
        job = json.load(f)

    # Imported here so that a missing PySpark fails with Python's own clear message
    # after the job file was read (alsflow reports the last lines of stderr).
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = SparkSession.builder.appName(job["app_name"]).getOrCreate()
    sc = spark.sparkContext
    sc.setLogLevel("WARN")
    emit("started", spark_version=spark.version, app_id=sc.applicationId, master=sc.master)
    sc.setCheckpointDir(job["checkpoint_dir"])

    stop = threading.Event()
    watcher = threading.Thread(target=watch_progress, args=(sc, stop), daemon=True)
    watcher.start()
    try:
        rows = spark.read.parquet(job["input"])
        columns = [
            F.col("user_idx").cast("int").alias("user"),
            F.col("item_idx").cast("int").alias("item"),
            F.col("value").cast("float").alias("value"),
        ]
        if any(fit["fold"] is not None for fit in job["fits"]):
            columns.append(F.col("fold").cast("int").alias("fold"))
        # Several fits read the same rows: keep them in memory once.
        rows = rows.select(*columns).cache()
        for index, fit in enumerate(job["fits"]):
            started = time.time()
            data = rows if fit["fold"] is None else rows.where(F.col("fold") != fit["fold"])
            als = ALS(
                rank=fit["rank"],
                maxIter=fit["max_iter"],
                regParam=fit["reg_param"],
                alpha=fit["alpha"],
                nonnegative=fit["nonnegative"],
                seed=fit["seed"],
                implicitPrefs=True,
                numUserBlocks=job["num_blocks"],
                numItemBlocks=job["num_blocks"],
                checkpointInterval=job["checkpoint_interval"],
                userCol="user",
                itemCol="item",
                ratingCol="value",
            )
            model = als.fit(data.select("user", "item", "value"))
            model.userFactors.write.parquet(fit["out"] + "/user_factors", compression="snappy")
            model.itemFactors.write.parquet(fit["out"] + "/item_factors", compression="snappy")
            emit("fit_done", index=index, seconds=round(time.time() - started, 3))
        emit("done")
    finally:
        stop.set()
        spark.stop()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: spark-submit alsflow_spark.py JOB.json")
    main(sys.argv[1])
