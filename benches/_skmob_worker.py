"""Runs scikit-mobility's real entropy inside `.venv-skmob` (numpy<2); called by bench_entropy.

Usage: python _skmob_worker.py IN.npz OUT.json

IN.npz holds `offsets` and `values` (the sequences to score, in order). The sequences are put in a
TrajDataFrame (one row per interaction, uid = sequence index, datetime = position so the frame is
already in time order, and the item id encoded injectively as a (lat, lng) pair) and scored with
the public `skmob.measures.individual.real_entropy(tdf, show_progress=False)`. Only that call is
timed: interpreter start, imports and building the frame are excluded.
"""

import json
import sys
import time

import numpy as np
import pandas as pd
import skmob
from skmob.measures.individual import real_entropy


def main(in_path: str, out_path: str) -> None:
    data = np.load(in_path)
    offsets, values = data["offsets"], data["values"].astype(np.int64)
    lengths = np.diff(offsets)
    uid = np.repeat(np.arange(len(lengths)), lengths)
    frame = pd.DataFrame(
        {
            "uid": uid,
            "datetime": pd.to_datetime(np.arange(len(values)), unit="s"),
            "lat": (values % 100_000) / 1000.0 - 50.0,
            "lng": (values // 100_000) / 1000.0,
        }
    )
    tdf = skmob.TrajDataFrame(frame, latitude="lat", longitude="lng", datetime="datetime")
    start = time.perf_counter()
    result = real_entropy(tdf, show_progress=False)
    elapsed = time.perf_counter() - start
    entropy = result.sort_values("uid")["real_entropy"].to_numpy(dtype=float)
    with open(out_path, "w") as fh:
        json.dump(
            {
                "seconds": elapsed,
                "entropy": entropy.tolist(),
                "versions": {"scikit-mobility": skmob.__version__, "numpy": np.__version__},
            },
            fh,
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
