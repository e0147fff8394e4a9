#!/usr/bin/env bash
# Where the ML-1M HSTU column's time goes on a lent GPU: epoch time of one table1 HSTU recall
# training alone (batch 128, and 512 for comparison) and of 12 side by side under NVIDIA MPS.
# Prepared as for gpu_checks.sh (gpu-carry/: the wheel and ML-1M); there:
#     bash benches/gpu_epoch_probe.sh $OUT        # ~60 s on an H100
# Extra arguments go to every `unids train` (a CPU dry run: --set epochs=1 --set model.dim=8).
set -u
out=${1:?}; shift
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/unids-site gpu-carry/unids-*.whl || exit 1
export PYTHONPATH=/tmp/unids-site
P=/tmp/probe; mkdir -p $P
python3 -m unids data prepare ml-1m --path gpu-carry/data/ml-1m -o $P/ml1m > /dev/null || exit 1
run() {
  name=$1; shift
  python3 -m unids train --data $P/ml1m --backbone hstu --stage recall --set epochs=3 \
    --set patience=100 --set batch_size=128 --set lr=1e-3 --set model.max_len=200 \
    --set model.dim=50 --set model.blocks=2 --set model.heads=1 --set model.attention_dim=50 \
    --set model.linear_dim=50 --set model.dropout=0.2 --results $P/res-$name -o $P/run-$name \
    "$@" > $P/log-$name 2>&1 || tail -3 $P/log-$name
}
t=$(date +%s); run b128 "$@"; echo "b128 alone: $(( $(date +%s) - t )) s"
t=$(date +%s); run b512 --set batch_size=512 "$@"; echo "b512 alone: $(( $(date +%s) - t )) s"
if nvidia-cuda-mps-control -d 2>/dev/null; then mps=mps; else mps=nomps; fi
t=$(date +%s)
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do run $mps-$i --seed $i "$@" & done; wait
echo "12 × b128 ($mps): $(( $(date +%s) - t )) s"
[ $mps = mps ] && echo quit | nvidia-cuda-mps-control
python3 - $P $out <<'EOF'
import json, sys, glob, pathlib
rows = {}
for f in sorted(glob.glob(f"{sys.argv[1]}/res-*/**/*.json", recursive=True)):
    r = json.load(open(f)); name = f.split("/res-")[1].split("/")[0]
    rows[name] = r["performance"] | {"wall_time_s": r["wall_time_s"], "device": r["device"]}
    print(f"{name:10s} epoch {r['performance']['epoch_s_median']:.2f} s  "
          f"{r['performance']['tokens_per_s_median']:.0f} tok/s  wall {r['wall_time_s']:.0f} s")
pathlib.Path(sys.argv[2], "probe.json").write_text(json.dumps(rows, indent=1))
EOF
