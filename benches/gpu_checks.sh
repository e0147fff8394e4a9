#!/usr/bin/env bash
# Every GPU check of the project in one command, for a lent GPU machine (the device tool):
# the CUDA-only tests (resume on CUDA), then the ML-1M × HSTU column of Table 1 against the
# clock (benches/gpu_table1_column.py; its trainings run in bf16 autocast). Prepared here, on
# the CPU machine:
#
#     make gpu-carry      # gpu-carry/: the abi3 wheel (Python ≥ 3.11) and ML-1M ($UNIDS_DATA)
#     bash benches/gpu_checks.sh /tmp/gpu-out 60 synthetic   # a CPU dry run of this script
#
# and there: `bash benches/gpu_checks.sh $OUT 480` with carry = ["gpu-carry"].
# Arguments: OUT (what comes back), the column's deadline in seconds, the dataset (ml-1m).
# The machine has torch, numpy, pyarrow, click, tqdm and matplotlib; only unids travels.
set -u
out=${1:?usage: gpu_checks.sh OUT [DEADLINE_S] [DATASET]}
deadline=${2:-480}
dataset=${3:-ml-1m}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 UNIDS_DATA=$PWD/gpu-carry/data

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/unids-site gpu-carry/unids-*.whl || exit 1
export PYTHONPATH=/tmp/unids-site${PYTHONPATH:+:$PYTHONPATH}
python3 - <<'EOF' | tee "$out/machine.txt"
import os, platform, torch, unids
name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"{name} · torch {torch.__version__} · Python {platform.python_version()} · "
      f"{os.cpu_count()} CPUs · unids from {unids.__file__}")
EOF

# The tests that only run with CUDA (skipped on the CPU machine and in CI).
timeout 60 python3 -m pytest -q -p no:cacheprovider -W default tests/test_train.py \
    -k cuda 2>&1 | tail -15 | tee "$out/cuda-tests.txt"

extra=()
if [ "$dataset" = synthetic ]; then  # the dry run: tiny models, one epoch
    extra=(--set epochs=1 --set regenerate.epochs=1 --set model.dim=16 --parallel 2)
fi
python3 benches/gpu_table1_column.py --data "$dataset" --out "$out/column" \
    --deadline "$deadline" "${extra[@]}" 2>&1 | tee "$out/column.txt"
cp "$out/column/column.json" "$out/column/column.tar.gz" "$out/" 2>/dev/null
rm -rf "$out/column"   # its files are in the archive; the machine hands back few files
