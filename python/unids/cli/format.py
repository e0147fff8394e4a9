"""`unids format`: Pattern-Token sequences of a prepared dataset for one stage."""

from __future__ import annotations

import time

import click

from unids.cli.engines import check_engine, spark_session
from unids.cli.options import emit, json_option, threads_option
from unids.data.dataset import Dataset
from unids.formats import SOURCES, STAGES, format_dataset


@click.command("format")
@click.argument("dataset_dir", type=click.Path(file_okay=False))
@click.option("--stage", required=True, type=click.Choice(STAGES),
              help="Which stage's defaults (threshold, token source, interleaving) to use.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Directory for pt.parquet, vocabulary.json, patterns.parquet, manifest.json.")
@click.option("--source", type=click.Choice([*SOURCES, "sep"]), default=None,
              help="Segment token T_i: time gap, user attribute, mean behaviour, majority "
                   "domain, or a plain separator (default: the stage's).")
@click.option("--theta-scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="θ = theta_scale × H1 (default: the stage's).")
@click.option("--theta", type=float, default=None, help="Absolute threshold θ in bits.")
@click.option("--interleave/--no-interleave", default=None,
              help="Follow each item by its behaviour token (default: on for fine ranking "
                   "where the dataset has behaviour).")
@click.option("--behavior", default=None,
              help="Behaviour column for interleaving and --source behavior (default: the "
                   "label column, else the first).")
@click.option("--user-attribute", default=None,
              help="User column for --source user (default: age, gender, occupation, else the "
                   "first categorical one).")
@click.option("--domain-column", default=None,
              help="Item column for --source domain (default: genres, genre, categories, …).")
@click.option("--min-support", type=click.IntRange(min=1), default=2, show_default=True,
              help="Minimum occurrences c of a pattern.")
@click.option("--max-len", type=click.IntRange(min=2), default=5, show_default=True,
              help="Maximum pattern length L_max.")
@click.option("--method", type=click.Choice(["dp", "greedy"]), default="dp", show_default=True,
              help="Segmentation: minimum total entropy, or greedy longest match.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local",
              show_default=True,
              help="local = this process; spark = Spark tasks format the users, each reading "
                   "its row groups of sequences.parquet with pyarrow (pip install "
                   "'unids[spark]'; same output, docs/SCALE.md).")
@click.option("--master", default=None,
              help="Spark master URL: local[2], spark://host:7077, yarn, k8s://… (default: "
                   "spark-submit's, else local[*]).")
@click.option("--spark-conf", multiple=True, metavar="KEY=VALUE",
              help="A Spark setting, repeatable: e.g. spark.driver.memory=8g.")
@threads_option
@json_option
def format_command(dataset_dir: str, stage: str, output: str, source: str | None,
                   theta_scale: float | None, theta: float | None, interleave: bool | None,
                   behavior: str | None, user_attribute: str | None, domain_column: str | None,
                   min_support: int, max_len: int, method: str, engine: str, master: str | None,
                   spark_conf: tuple[str, ...], threads: int | None, as_json: bool) -> None:
    """Mine, segment and write Pattern-Token sequences [P1, T1, …, Pk, Tk] of a prepared
    dataset's training part (the validation and test items are never read).

    \b
    Stage defaults (θ = λ·H1; a test keeps this table in step with the code):
      recall   λ 1.2   source domain     interleave off
      coarse   λ 1.2   source user       interleave off
      fine     λ 1.4   source behavior   interleave on (where the dataset has behaviour)
    A source the dataset lacks falls back to the next of domain, user, behavior, gap it has,
    else to a plain separator token; the notes say so.

    \b
    Examples:
      unids format --stage recall prepared/ml-1m -o formatted/ml-1m-recall
      unids format --stage fine prepared/ml-1m -o formatted/ml-1m-fine --theta-scale 1.5
      unids format --stage coarse prepared/beauty -o out/ --source gap --json
      unids format --stage recall prepared/ml-1m -o out/ --engine spark --master local[2]
    """
    start = time.perf_counter()
    check_engine(engine, False, master, spark_conf, False)
    options = {"theta_scale": theta_scale, "source": source, "interleave": interleave,
               "theta": theta, "behavior": behavior, "user_attribute": user_attribute,
               "domain_column": domain_column, "min_support": min_support,
               "max_len": max_len, "method": method, "threads": threads}
    if engine == "spark":
        from unids.distributed.spark_format import format_dataset_spark

        Dataset.load(dataset_dir, sequences=False)  # a bad path fails before Spark starts
        with spark_session(master, spark_conf, dataset_dir) as session:
            result = format_dataset_spark(session, dataset_dir, stage,  # type: ignore[arg-type]
                                          **options)
        name = result.manifest["dataset"]["name"]
    else:
        dataset = Dataset.load(dataset_dir)
        result = format_dataset(dataset, stage, **options)  # type: ignore[arg-type]
        name = dataset.name
    result.write(output)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    manifest = result.manifest
    counts = manifest["counts"]
    summary = {**manifest, "output": output, "seconds": round(time.perf_counter() - start, 3)}
    theta_text = f"{manifest['theta_scale']} × H1 = " if manifest["theta_scale"] else ""
    emit(summary, as_json, [
        f"{name}, stage {stage}: {counts['users']} users, {counts['interactions']} "
        f"training interactions",
        f"θ = {theta_text}{manifest['theta']:.3f} bits (H1 = {manifest['h1']:.3f}): "
        f"{counts['patterns']} patterns; {counts['segments']} segments, "
        f"{counts['share_in_patterns']:.1%} of interactions inside multi-item patterns",
        f"tokens: source {manifest['source']['used']}, interleave "
        f"{'on' if manifest['interleave'] else 'off'}; {counts['tokens']} tokens, vocabulary "
        f"{counts['vocabulary']}",
        f"wrote {output} ({summary['seconds']:.1f} s)",
    ])

