#!/usr/bin/env bash
# A venv for `python -m llama_cpp.server` (llama-cpp-python's own OpenAI server), the peer of
# bench/conformance.py and bench/compare.py, without touching the project's .venv: it sees the
# .venv's packages (the same compiled llama_cpp) through a .pth file and gets only the server
# extras (fastapi, sse-starlette, starlette-context, pydantic-settings) installed into itself.
#
#   bench/setup_peers.sh [VENV_DIR]     # default build/work/llcpp-server-venv
#
# Prints the venv's python; run the server as `VENV/bin/python -m llama_cpp.server --help`.
# llama.cpp's own llama-server is built by bench/build_llama_server.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-build/work/llcpp-server-venv}"
SHARED_SITE="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
VERSION="$(.venv/bin/python -c 'import llama_cpp; print(llama_cpp.__version__)')"
"$(readlink -f .venv/bin/python)" -m venv "$VENV"
OWN_SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# appended after the venv's own site-packages: the extras installed here win over the .venv's
echo "$SHARED_SITE" >"$OWN_SITE/shared-venv.pth"
"$VENV/bin/python" -m pip install --quiet \
  'fastapi>=0.100.0' 'sse-starlette>=1.6.1' 'starlette-context>=0.3.6,<0.4' \
  'pydantic-settings>=2.0.1' 'uvicorn>=0.22.0'
"$VENV/bin/python" -c "import llama_cpp, llama_cpp.server.app; assert llama_cpp.__version__ == '$VERSION'"
echo "$(cd "$VENV" && pwd)/bin/python"
