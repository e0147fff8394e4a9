"""Running the per-user and mining work of unids on a cluster.

`unids.distributed.spark` (the optional extra `unids[spark]`) takes Spark DataFrames of
`(user, item[, timestamp])` rows. It is imported on demand: `import unids` never needs pyspark.
"""
