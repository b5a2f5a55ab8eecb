#!/usr/bin/env bash
# The GPU half of the benchmark, for a machine with one NVIDIA GPU (run from the repository root):
#   1. tests/test_bench.py, whose CUDA test checks that the fused step on device="cuda" computes what helpers
#      computes on the CPU (float64, 1e-12), and that the `cuda` variant agrees with the CPU's `fused` step by step
#   2. bench/bench_step.py with every variant (lecture, autograd, lesson, fused, cuda), figures in $OUT/bench_gpu.json
# It needs a python3 whose torch sees the GPU, with pytest, tqdm, nbformat and matplotlib (what tests/conftest.py
# imports; installed here if missing and pip can reach PyPI).
# helpers is imported from this checkout (PYTHONPATH): it need not be pip-installed. About a minute.
set -uo pipefail
OUT="${OUT:-bench}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: $PY has no torch that sees a CUDA GPU; nothing to check" >&2
    exit 2
fi
# the test needs pytest and tests/conftest.py's imports (its `words` fixture); helpers needs torch and tqdm
if ! "$PY" -c "import pytest, tqdm, nbformat, matplotlib" 2>/dev/null; then
    echo "gpu_check: installing pytest, tqdm, nbformat and matplotlib"
    timeout 120 "$PY" -m pip install --quiet --retries 0 --timeout 10 pytest tqdm nbformat matplotlib ||
        echo "gpu_check: could not install pytest, tqdm, nbformat and matplotlib" >&2
fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/nvidia_smi.csv" 2>&1 || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"

status=0
echo "== tests/test_bench.py (the CUDA test must pass, not skip)"
timeout 120 "$PY" -m pytest -q -rs tests/test_bench.py 2>&1 | tee "$OUT/test_bench.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
grep -q "SKIPPED.*no CUDA GPU" "$OUT/test_bench.txt" && { echo "gpu_check: the CUDA test was skipped" >&2; status=1; }

echo "== bench/bench_step.py"
timeout 240 "$PY" bench/bench_step.py --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
grep -q "| cuda | .* skipped" "$OUT/bench_gpu.txt" && { echo "gpu_check: the cuda variant was skipped" >&2; status=1; }

exit $status
