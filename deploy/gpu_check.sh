#!/usr/bin/env bash
# Check an NVIDIA GPU host before training or monitoring on it (about 2½ minutes on an H100):
#   deploy/gpu_check.sh [OUT_DIR]                    # default runs/gpu_check
# 1. LoRA training through the recipe on CUDA: the GPU-only tests (bf16 picked, card recorded in the
#    manifest, validation loss falls, adapter written; GPU gauges on /metrics via nvidia-ml-py) must
#    run, not skip; then the training tests run on the GPU as they run on a CPU (tiny random
#    model, real rows; an interrupted run resumes to the same adapter, GPU RNG restored).
# 2. Tokens/s of a LoRA step (r=16, q/k/v/o) at Gemma-3-270M's shape with random weights,
#    batches of 4x512 (every mode) and 16x512 (recipe and sdpa modes).
# Needs: pip install -e '.[train,gpu,dev]', ../shared/legal-data (the tests' real rows) and
# llama.cpp's converter scripts (fetched once into ~/.cache/legal-edge; offline: LLAMA_CPP_DIR).
# PYTHON picks the interpreter; DEVICE=cpu and BENCH_ARGS ("--set num_hidden_layers=2 ...") are
# for trying the script on a machine without a GPU. Writes env.txt, pytest-gpu.xml, pytest.xml and
# lora_step_speed_b4.json / _b16.json to OUT_DIR; exits non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gpu_check}
if [ -n "${PYTHON:-}" ]; then py=$PYTHON
elif [ -x .venv/bin/python ]; then py=.venv/bin/python
else py=python3; fi
device=${DEVICE:-cuda}
read -r -a bench_args <<< "${BENCH_ARGS:-}"
mkdir -p "$out"
failed=()
say() { printf '\n== %s\n' "$*"; }

say "environment"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true
  "$py" - <<'PY'
import platform
from importlib import metadata

import torch

print(f"python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda})")
if torch.cuda.is_available():
    print(f"{torch.cuda.get_device_name(0)}: bf16 {torch.cuda.is_bf16_supported()}, "
          f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
for pkg in ("transformers", "peft", "accelerate", "gguf", "nvidia-ml-py", "litestar"):
    try:
        print(f"{pkg} {metadata.version(pkg)}")
    except metadata.PackageNotFoundError:
        print(f"{pkg} MISSING")
PY
} 2>&1 | tee "$out/env.txt"
if [ "$device" = cuda ] && ! "$py" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'
then
  echo "torch sees no CUDA GPU: nothing to check (DEVICE=cpu tries the script without one)"
  exit 2
fi

tests=(tests/recipes/train/test_train_lora.py tests/legal_edge/server/test_gpu.py)
say "GPU-only tests (must run, not skip)"
"$py" -m pytest -q -rs -p no:cacheprovider -m gpu --junitxml="$out/pytest-gpu.xml" "${tests[@]}" \
  || failed+=(gpu-tests)
if [ "$device" = cuda ] && grep -q '<skipped' "$out/pytest-gpu.xml" 2>/dev/null; then
  echo "a GPU test was skipped on a GPU host (see the reason above)"
  failed+=(gpu-tests-skipped)
fi

say "training tests on $device"
"$py" -m pytest -q -rs -p no:cacheprovider -m "not slow and not gpu" \
  --junitxml="$out/pytest.xml" "${tests[@]}" || failed+=(train-tests)

say "LoRA step speed at Gemma-3-270M's shape, 4x512"
"$py" -m recipes.bench.lora_step_speed --device "$device" --batch-size 4 \
  --json "$out/lora_step_speed_b4.json" "${bench_args[@]}" || failed+=(speed-4x512)
say "LoRA step speed, 16x512"
"$py" -m recipes.bench.lora_step_speed --device "$device" --batch-size 16 --modes recipe,sdpa \
  --json "$out/lora_step_speed_b16.json" "${bench_args[@]}" || failed+=(speed-16x512)

if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED: ${failed[*]} (reports in $out)"
  exit 1
fi
say "all GPU checks passed (reports in $out)"
