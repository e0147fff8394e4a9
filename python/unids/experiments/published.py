"""The published numbers our reports print beside our own: embedded copies of the UniDS
paper's Tables 1–3, DR4SR's Beauty table and the HSTU reference README (the CSV files in
`published/`, each headed by a comment naming its source).

    rows = published_rows("unids_table1")
    paper = lookup(rows, dataset="ml-1m", backbone="hstu", method="unids")   # {"AUC": 0.8081, …}

Every row is normalised to the names our records use: dataset (`ml-1m`,
`amazon-books-2014-sample`, `Beauty`, `kuairand-pure`), backbone (`hstu`, `llama2rec`,
`sasrec`, …), method (`base`, `dr4sr`, `reppad`, `frec`, `unids`, the ablations
`unids-no-tc|uf|ug`) and metric (`MRR`, `HR@10`, `NDCG@10`, `AUC`, …). A published dataset
is not always the one we have: the paper's AMZ-Books is the full Amazon Books log, ours a
sample (`DATASET_NOTES` says so, and the reports print it).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

TABLES = ("unids_table1", "unids_table2", "unids_table3", "dr4sr_beauty", "hstu_reference")

#: Published dataset label → the name our prepared datasets carry.
DATASETS = {
    "ML-1M": "ml-1m",
    "ML-20M": "ml-20m",
    "AMZ-Books": "amazon-books-2014-sample",
    "Books": "amazon-books-2014-sample",
    "Beauty": "Beauty",
    "KR-Pure": "kuairand-pure",
}

DATASET_NOTES = {
    "amazon-books-2014-sample": "the published rows are on the full Amazon Books log; ours is "
                                "the sample in the shared data (fewer users and items), so "
                                "absolute numbers are not comparable, directions are",
    "kuairand-pure": "needs the KuaiRand-Pure logs, which are not available here",
}

METHODS = {
    "Base": "base", "DR4SR": "dr4sr", "RepPad": "reppad", "FRec": "frec", "UniDS": "unids",
    "w/o TC": "unids-no-tc", "w/o UF": "unids-no-uf", "w/o UG": "unids-no-ug",
    "Origin": "base", "Generated": "unids",
}

#: DR4SR's Recall@K is HR@K with one target per user; N@K is NDCG@K.
METRICS = {"R@10": "HR@10", "R@20": "HR@20", "N@10": "NDCG@10", "N@20": "NDCG@20"}

#: DR4SR/HSTU label their rows `Model[+Method]`.
_MODEL_METHODS = {"": "base", "DR4SR": "dr4sr", "DR4SR+": "dr4sr+", "RepPad": "reppad",
                  "(RepPad-log)": "base (RepPad log)"}


@dataclass(frozen=True)
class PublishedRow:
    table: str
    source: str  # the CSV's comment line: where the numbers come from
    dataset: str
    backbone: str
    method: str
    metrics: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. max_seq_len, tokens (Table 2)


def published_rows(table: str) -> list[PublishedRow]:
    """The rows of one embedded table, names normalised (module docstring)."""
    if table not in TABLES:
        raise ValueError(f"no published table {table!r}; have {', '.join(TABLES)}")
    text = resources.files("unids.experiments").joinpath(f"published/{table}.csv").read_text()
    lines = text.splitlines()
    source = " ".join(line.lstrip("# ").strip() for line in lines if line.startswith("#"))
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    return [_row(table, source, record) for record in csv.DictReader(io.StringIO("\n".join(body)))]


def lookup(rows: list[PublishedRow], **keys: Any) -> dict[str, float] | None:
    """The metrics of the one row matching every key (dataset, backbone, method, or an
    `extra` key such as max_seq_len); None when no row matches."""
    found = [row for row in rows if all(
        getattr(row, key, row.extra.get(key)) == value for key, value in keys.items())]
    if len(found) > 1:
        raise ValueError(f"{len(found)} published rows match {keys}")
    return found[0].metrics if found else None


def _row(table: str, source: str, record: dict[str, str]) -> PublishedRow:
    dataset = DATASETS.get(record.pop("dataset"), "unknown")
    extra: dict[str, Any] = {}
    if table == "hstu_reference" or table == "dr4sr_beauty":
        model, _, suffix = record.pop("model").partition("+")
        if model.endswith("(RepPad-log)"):
            model, suffix = model.removesuffix("(RepPad-log)"), "(RepPad-log)"
        backbone, method = model.lower(), _MODEL_METHODS.get(suffix, suffix.lower())
    elif table == "unids_table2":
        backbone, method = "hstu", METHODS[record.pop("data")]
        extra = {"max_seq_len": int(record.pop("max_seq_len")), "tokens": int(record.pop("tokens"))}
    elif table == "unids_table3":
        backbone, method = "hstu", METHODS[record.pop("variant")]
    else:
        backbone, method = record.pop("backbone").lower(), METHODS[record.pop("method")]
    metrics = {METRICS.get(name, name): float(value) for name, value in record.items()}
    return PublishedRow(table=table, source=source, dataset=dataset, backbone=backbone,
                        method=method, metrics=metrics, extra=extra)
