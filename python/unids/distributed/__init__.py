"""Running the per-user and mining work of unids on a cluster.

`unids.distributed.spark` (the optional extra `unids[spark]`) takes Spark DataFrames of
`(user, item[, timestamp])` rows; `unids.distributed.spark_format` formats a prepared dataset's
Pattern-Token sequences with Spark tasks. Both are imported on demand: `import unids` never
needs pyspark.
"""
