#!/usr/bin/env bash
# The GPU half of the benchmark, for a machine with one NVIDIA GPU (run from the repository root):
#   1. tests/test_bench.py, whose CUDA test checks that the helpers loop on device="cuda" matches the CPU
#   2. bench/bench_step.py with the cuda variant, figures written to $OUT/bench_gpu.json
# It needs a python3 whose torch sees the GPU, and names.txt (./names.txt, $MAKEMORE_NAMES or shared/names.txt).
# About a minute; each step is capped so the whole stays under 3 minutes.
set -uo pipefail
OUT="${OUT:-bench}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
# helpers is imported from this checkout: on that machine it is not pip-installed
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: $PY has no torch that sees a CUDA GPU; nothing to check" >&2
    exit 2
fi
# helpers needs tqdm and matplotlib, the test pytest: install whichever is missing (quietly, best effort)
missing=$("$PY" -c "
import importlib.util as u
print(' '.join(m for m in ('tqdm', 'matplotlib', 'pytest') if u.find_spec(m) is None))")
if [ -n "$missing" ]; then
    echo "gpu_check: installing $missing"
    timeout 60 "$PY" -m pip install --quiet --retries 0 --timeout 10 $missing || echo "gpu_check: could not install $missing" >&2
fi
# names.txt is git-ignored, so it may not have come with the checkout
if [ ! -f names.txt ] && [ -z "${MAKEMORE_NAMES:-}" ]; then
    for f in shared/names.txt ../shared/names.txt; do
        if [ -f "$f" ]; then export MAKEMORE_NAMES="$PWD/$f"; break; fi
    done
fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/nvidia_smi.csv" 2>&1 || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"

status=0
echo "== tests/test_bench.py (the CUDA test must pass, not skip)"
timeout 90 "$PY" -m pytest -q -rs tests/test_bench.py 2>&1 | tee "$OUT/test_bench.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
grep -q "SKIPPED.*no CUDA GPU" "$OUT/test_bench.txt" && { echo "gpu_check: the CUDA test was skipped" >&2; status=1; }

echo "== bench/bench_step.py"
timeout 80 "$PY" bench/bench_step.py --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

exit $status
