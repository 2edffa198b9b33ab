#!/usr/bin/env bash
# Coverage-guided fuzzing of the compiled vectorizer (differential: it must equal the Python
# reference) and of the file readers, for SECONDS in all (default 60), shared equally by the
# targets (IMDB_EDGE_FUZZ_TARGETS, default "vectorizer loaders").
#   bash scripts/fuzz.sh 3600          # a long run
# Needs the fuzz extra (pip install -e ".[fuzz]"); PYTHON picks the interpreter. With clang
# on PATH (apt-get install clang-14), the extension is rebuilt in a temporary copy with
# libFuzzer's coverage and AddressSanitizer, so the C code itself guides the search and any
# memory error is a finding; without it only the Python code is instrumented (said below).
# New inputs go to fuzz/corpus/TARGET (tests/test_hostile.py replays them all), or to
# $IMDB_EDGE_FUZZ_CORPUS/TARGET; a finding is saved as fuzz/crash-TARGET-* and the script
# exits non-zero.
#   bash scripts/fuzz.sh --merge       # shrink the corpora to inputs that add coverage
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
MERGE=0
if [ "${1:-}" = --merge ]; then MERGE=1; shift; fi
SECONDS_TOTAL=${1:-60}
TARGETS=${IMDB_EDGE_FUZZ_TARGETS:-vectorizer loaders}
HALF=$(( SECONDS_TOTAL / $(wc -w <<<"$TARGETS") ))
CORPUS=${IMDB_EDGE_FUZZ_CORPUS:-$ROOT/fuzz/corpus}
CLANG=$(command -v clang || command -v clang-14 || true)
ENV=()
if [ -n "$CLANG" ]; then
  BUILD=$(mktemp -d)
  trap 'rm -rf "$BUILD"' EXIT
  git ls-files -z | grep -zv '^fuzz/corpus/' | xargs -0 -I{} cp --parents {} "$BUILD"/
  (cd "$BUILD" && CC="$CLANG" LDSHARED="$CLANG -shared" \
     CFLAGS="-fsanitize=fuzzer-no-link,address -g" LDFLAGS="-fsanitize=address" \
     IMDB_EDGE_REQUIRE_EXTENSION=1 "$PY" setup.py -q build_ext --inplace >build.log 2>&1) \
    || { cat "$BUILD/build.log"; exit 1; }
  ATHERIS=$("$PY" -c "import atheris; print(atheris.path())")
  ENV=(env PYTHONPATH="$BUILD" LD_PRELOAD="$ATHERIS/asan_with_fuzzer.so"
       ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1)
  echo "extension instrumented for coverage + ASan with $CLANG"
else
  echo "no clang: only the Python code guides the fuzzer (apt-get install clang-14 for the C code)"
fi
if [ "$MERGE" = 1 ]; then
  WRAP=$(mktemp -d)
  for target in $TARGETS; do
    # libFuzzer re-runs argv[0] (the wrapper) on the inputs, in the same environment.
    printf '#!/bin/sh\nexec %q %q "$@"\n' "$PY" "$ROOT/fuzz/fuzz_$target.py" > "$WRAP/$target"
    chmod +x "$WRAP/$target"
    rm -rf "$CORPUS/$target.merged" && mkdir -p "$CORPUS/$target.merged"
    IMDB_EDGE_FUZZ_SELF="$WRAP/$target" "${ENV[@]}" "$WRAP/$target" -merge=1 -max_len=4096 \
      -rss_limit_mb=4096 "$CORPUS/$target.merged" "$CORPUS/$target" >"$WRAP/$target.log" 2>&1 \
      || { tail -20 "$WRAP/$target.log"; exit 1; }
    kept=$(ls "$CORPUS/$target.merged" | wc -l)
    echo "$target: $(ls "$CORPUS/$target" | wc -l) inputs -> $kept"
    if [ "$kept" -gt 0 ]; then   # never lose a corpus to a failed merge
      rm -rf "$CORPUS/$target" && mv "$CORPUS/$target.merged" "$CORPUS/$target"
    fi
  done
  rm -rf "$WRAP"
  exit 0
fi
for target in $TARGETS; do
  mkdir -p "$CORPUS/$target"
  log=$(mktemp)
  echo "=== fuzz $target for ${HALF}s"
  status=0
  "${ENV[@]}" "$PY" "$ROOT/fuzz/fuzz_$target.py" -max_total_time="$HALF" -max_len=4096 \
    -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$ROOT/fuzz/crash-$target-" "$CORPUS/$target" \
    >"$log" 2>&1 || status=$?
  grep -E "stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb|DONE +cov" "$log" || true
  if [ "$status" -ne 0 ]; then tail -60 "$log"; rm -f "$log"; exit "$status"; fi
  rm -f "$log"
done
