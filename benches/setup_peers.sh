#!/usr/bin/env bash
# Recreate, from scratch, the two virtual environments the benchmarks compare against.
#
#   .venv-bench  : the main interpreter's site-packages (numpy, pyarrow, unids) plus the peers
#                  fastmob, ProcessEntropy (+ LCSFinder), seq2pat and scikit-learn.
#   .venv-skmob  : scikit-mobility, which needs numpy<2 and shapely<2, in its own interpreter.
#
# Both are deleted and rebuilt on every run, so running it twice gives the same result.
# Environment: PYTHON (default python3: the interpreter unids is installed in) and SKMOB_PYTHON
# (default: a python3.10 on PATH or under pyenv; scikit-mobility's pinned igraph 0.9 and
# shapely 1.8 have binary wheels for 3.10 but not 3.11, where igraph needs CMake to build).
# Only PyPI is used. Run from anywhere: bash benches/setup_peers.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

echo "== .venv-bench (with --system-site-packages of $("$PYTHON" -c 'import sys; print(sys.executable)'))"
rm -rf "$ROOT/.venv-bench"
"$PYTHON" -m venv --system-site-packages "$ROOT/.venv-bench"
BENCH_PIP=("$ROOT/.venv-bench/bin/python" -m pip install --disable-pip-version-check -q)
"${BENCH_PIP[@]}" fastmob==0.3.2 seq2pat==2.0.0 scikit-learn==1.9.1 pandas==3.1.1  # pandas: bench_data baseline
# LCSFinder 1.1.0 (ProcessEntropy's C++ core) uses std::numeric_limits without #include <limits>,
# which GCC 12 rejects ("'numeric_limits' was not declared in this scope"); force the include.
CPPFLAGS="-include limits" CXXFLAGS="-include limits" "${BENCH_PIP[@]}" --no-cache-dir \
    LCSFinder==1.1.0 ProcessEntropy==1.1.2.dev0
"$ROOT/.venv-bench/bin/python" -c "import unids, fastmob, ProcessEntropy.SelfEntropy, \
sequential.seq2pat, sklearn, pandas; print('bench peers ok')"

echo "== .venv-skmob"
if [[ -z "${SKMOB_PYTHON:-}" ]]; then
    # The first Python 3.10 that really runs (a pyenv shim on PATH may not).
    for candidate in python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python; do
        if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
            SKMOB_PYTHON="$candidate"
            break
        fi
    done
fi
if [[ -z "${SKMOB_PYTHON:-}" ]]; then
    echo "no Python 3.10 found (set SKMOB_PYTHON); skipping scikit-mobility" >&2
    exit 0
fi
rm -rf "$ROOT/.venv-skmob"
"$SKMOB_PYTHON" -m venv "$ROOT/.venv-skmob"
# shapely<2: skmob 1.3.1 imports shapely.ops.cascaded_union, removed in shapely 2.0.
"$ROOT/.venv-skmob/bin/python" -m pip install --disable-pip-version-check -q \
    --only-binary igraph,python-igraph,h3,numpy,pandas,scipy,shapely,pyproj,fiona,statsmodels \
    "numpy<2" "shapely<2" scikit-mobility==1.3.1
"$ROOT/.venv-skmob/bin/python" -c "import numpy, skmob.measures.individual; \
print('skmob ok, numpy', numpy.__version__)"
