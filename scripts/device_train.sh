#!/usr/bin/env bash
# Train configs side by side on a lent GPU machine (the device tool), time-boxed, and bring back their models.
#
#   bash scripts/device_train.sh MINUTES CONFIG [CONFIG ...]      (on that machine, from the repository root)
#
# That machine has JAX, NumPy, SciPy, PyYAML and tqdm but not Keras: .whl/ must hold the wheels of keras,
# namex, optree, soundfile, cffi, pycparser and soxr for its Python (the device README says how to fetch them),
# and the configs' data.train folders must travel with it (Opus copies: python -m data.compress).
# Each config trains for MINUTES (pipelines.train --max-minutes) in runs/device-<config name>, all at once,
# sharing the GPU's memory; then $OUT gets each run's log and its models in tar files of two (the run's
# last model.keras and snapshots spread over the run): at most 8 files of 16 MiB come back from $OUT.
# With PACE_CHECK=1 it first times the first config's batches in 7 worker processes and its training
# steps alone on random data (benchmarks/input_speed.py, benchmarks/train_speed.py), about a minute.
set -uo pipefail
minutes=$1
shift
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "error: cannot install the carried wheels in .whl/" >&2; exit 2; }
export PYTHONPATH=/tmp/site KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_MEM_FRACTION=$(python3 -c "print(round(0.9 / $#, 2))")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
nproc
if [ "${PACE_CHECK:-0}" = 1 ]; then  # what sets the pace: the batches, or the steps? (~1 minute)
    first_train=$(python3 -c "import sys; from pipelines.train import load_config
print(load_config(sys.argv[1])['data']['train'][0])" "$1")
    python3 -m benchmarks.input_speed --config "$1" --workers 7 --skip-tfrecords --batches 30 \
        --root "$first_train" --tracks 40
    python3 -m benchmarks.train_speed --config "$1" --batch 32 --steps 30
fi

for config in "$@"; do
    name=$(basename "$config" .yaml)
    python3 -m pipelines.train --config "$config" --run "runs/device-$name" --max-minutes "$minutes" \
        >"$OUT/$name.log" 2>&1 &
done
wait

# The models to bring back: the last (model.keras) and snapshots spread evenly, two per tar file.
keep=$((8 / $#))
for config in "$@"; do
    name=$(basename "$config" .yaml)
    run=runs/device-$name
    grep -a -o "runs/device-.*best validation SDR.*\|error: .*" "$OUT/$name.log"
    tail -n 2 "$run/metrics.jsonl"
    [ -f "$run/model.keras" ] || { echo "$name: no model"; continue; }
    mapfile -t chosen < <(python3 - "$run" "$keep" <<'EOF'
import sys
from pathlib import Path
run, keep = Path(sys.argv[1]), int(sys.argv[2])
snapshots = sorted((run / "snapshots").glob("*.keras"))
picked = [snapshots[round(i * (len(snapshots) - 1) / max(keep - 2, 1))] for i in range(keep - 1)] if snapshots else []
for path in dict.fromkeys(picked):
    print(path.relative_to(run))
print("model.keras")
EOF
)
    for ((i = 0; i < ${#chosen[@]}; i += 2)); do
        files=("${chosen[@]:i:2}")
        cards=("${files[@]/%.keras/.json}")
        tar -cf "$OUT/$name-$((i / 2)).tar" -C "$run" "${files[@]}" "${cards[@]}" metrics.jsonl config.yaml
    done
    echo "$name: brought back ${chosen[*]}"
done
ls -la "$OUT"
