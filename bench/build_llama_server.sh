#!/usr/bin/env bash
# Build llama.cpp's own llama-server from the sources vendored in the llama-cpp-python sdist
# (the same llama.cpp the runtime uses), for the peer benchmark. About 10 minutes on 2 cores.
#
#   bench/build_llama_server.sh [OUT_DIR]     # default build/work/llama-server
#
# Prints the path of the llama-server binary.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-build/work/llama-server}"
VERSION="$(.venv/bin/python -c 'import llama_cpp; print(llama_cpp.__version__)')"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
if [ ! -d "$OUT/src" ]; then
  .venv/bin/pip download --quiet --no-binary :all: --no-deps \
    "llama-cpp-python==$VERSION" -d "$OUT/sdist"
  mkdir -p "$OUT/src"
  tar -xzf "$OUT"/sdist/llama_cpp_python-*.tar.gz -C "$OUT/src" --strip-components=1
fi
cmake -S "$OUT/src/vendor/llama.cpp" -B "$OUT/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DGGML_NATIVE=ON >"$OUT/cmake.log"
cmake --build "$OUT/cmake" --target llama-server -j "$(nproc)" >"$OUT/build.log"
echo "$OUT/cmake/bin/llama-server"
