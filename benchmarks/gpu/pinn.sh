#!/usr/bin/env bash
# nestax vs DeepXDE (PyTorch backend) on a lent GPU machine: time to DeepXDE's final error on
# burgers and poisson-2d, then the per-step table. Run from the repo root by the device tool,
# with `.whl` (deepxde, scikit-optimize, pyaml wheels) carried; the machine's python3 holds
# JAX and PyTorch with CUDA. Results land in $OUT (pinn_time_to_accuracy.*, pinn.*).
set -uo pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src DDE_BACKEND=pytorch
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
python3 -c "import jax, torch; print('jax', jax.__version__, jax.devices(), '| torch', \
torch.__version__, torch.cuda.get_device_name())"
# SMOKE=0 skips the set-up check, STEP_S=0 the per-step table; TTA_S caps the main run.
if [ "${SMOKE:-1}" = 1 ]; then
    timeout 150 python3 -m nestax.benchmarks.pinn --smoke --out "$OUT/smoke" 2>&1 | tail -6 \
        || exit 2
fi
timeout "${TTA_S:-330}" python3 -m nestax.benchmarks.pinn --out "$OUT" 2>&1 | grep -v Warning
if [ "${STEP_S:-100}" -gt 0 ]; then
    timeout "$STEP_S" python3 -m nestax._cli bench pinn --repeats 9 --out "$OUT" 2>&1 | tail -8
fi
