#!/usr/bin/env bash
# Run both fuzzers for SECONDS in all (default 60), half each, on their corpora in
# fuzz/corpus/ (kept in the repository: tests/test_hostile.py replays every input there).
#   bash scripts/fuzz.sh 1800          # a long run
# Needs the fuzz extra (pip install -e ".[fuzz]"); PYTHON picks the interpreter. Exits
# non-zero on any finding (the input is saved as fuzz/crash-TARGET-*).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SECONDS_TOTAL=${1:-60}
HALF=$(( SECONDS_TOTAL / 2 ))
for target in vectorizer loaders; do
  mkdir -p "fuzz/corpus/$target"
  log=$(mktemp)
  echo "=== fuzz $target for ${HALF}s"
  status=0
  "$PY" "fuzz/fuzz_$target.py" -max_total_time="$HALF" -rss_limit_mb=2048 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="fuzz/crash-$target-" "fuzz/corpus/$target" \
    >"$log" 2>&1 || status=$?
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs" "$log" || true
  if [ "$status" -ne 0 ]; then tail -40 "$log"; rm -f "$log"; exit "$status"; fi
  rm -f "$log"
done
