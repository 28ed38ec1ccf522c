#!/usr/bin/env bash
# Build the `legal-edge` binary with PyInstaller (one folder + a tarball), from the .venv made by
# `./install.sh --dev`. About 1-3 minutes on 2 cores.
#
#   build/build.sh            -> build/dist/legal-edge/legal-edge and
#                                build/dist/legal-edge-<version>-linux-<arch>.tar.gz
#   build/dist/legal-edge/legal-edge serve --model models/gemma3-270m
#   sudo ./install.sh --system --binary build/dist/legal-edge-<version>-linux-<arch>.tar.gz
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
"$PY" -c 'import PyInstaller, llama_cpp, legal_edge' 2>/dev/null \
  || { echo "build.sh: error: $PY lacks PyInstaller or the runtime; run ./install.sh --dev" >&2; exit 1; }
cd "$HERE"
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$HERE/dist" --workpath "$HERE/work" \
  legal-edge.spec
"$HERE/dist/legal-edge/legal-edge" --version
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)"
tarball="$HERE/dist/legal-edge-$version-linux-$(uname -m).tar.gz"
tar -czf "$tarball.tmp" -C "$HERE/dist" legal-edge && mv "$tarball.tmp" "$tarball"
echo "built $HERE/dist/legal-edge/ ($(du -sh "$HERE/dist/legal-edge" | cut -f1)) and $tarball ($(du -h "$tarball" | cut -f1))"
