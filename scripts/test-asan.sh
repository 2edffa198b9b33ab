#!/usr/bin/env bash
# The test suite with the compiled vectorizer built under AddressSanitizer and
# UndefinedBehaviorSanitizer: any out-of-bounds read or write, use after free or undefined
# behaviour in the extension aborts the run with a report.
#   bash scripts/test-asan.sh [pytest args]        (default: the runtime tests)
# PYTHON: an interpreter with the test dependencies (numpy, onnxruntime, pytest, hypothesis,
# Cython, setuptools); CI passes its training venv. Builds in a temporary copy of the tree,
# so the checkout's own build is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"    # readable by others: a test loads the package as user nobody
git ls-files -z --cached --others --exclude-standard | grep -zv '^fuzz/corpus/' \
  | xargs -0 -I{} cp --parents {} "$WORK"/
cp -r fuzz/corpus "$WORK/fuzz/" 2>/dev/null || true
cd "$WORK"
IMDB_EDGE_SANITIZE=1 IMDB_EDGE_REQUIRE_EXTENSION=1 "$PY" setup.py -q build_ext --inplace >build.log 2>&1 \
  || { cat build.log; exit 1; }
CC_BIN=${CC:-gcc}
ASAN_LIB=$("$CC_BIN" -print-file-name=libasan.so)
UBSAN_LIB=$("$CC_BIN" -print-file-name=libubsan.so)
# Python's own allocator hides object memory from ASan; plain malloc shows it. Leak checks
# are off: CPython keeps interned objects for the life of the process.
export PYTHONMALLOC=malloc
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:handle_segv=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export IMDB_EDGE_REQUIRE_EXTENSION=1 IMDB_EDGE_TEST_DATA=${IMDB_EDGE_TEST_DATA:-$ROOT/../shared/data/aclImdb_v1.tar.gz}
ARGS=("$@")
# The runtime tests that reach the extension; not training, Dask/Spark, pyarrow or sklearn
# (their own native code is not what this run checks).
[ ${#ARGS[@]} -eq 0 ] && ARGS=(tests -q -p no:cacheprovider --ignore=tests/test_train.py
  --ignore=tests/test_fit.py --ignore=tests/test_scale.py --ignore=tests/test_metrics.py
  --ignore=tests/test_evaluate.py -m "not data")
LD_PRELOAD="$ASAN_LIB:$UBSAN_LIB" PYTHONPATH="$WORK" "$PY" -c "
import imdb_edge._vectorize_c as m, sys
assert m.__file__.startswith('$WORK'), m.__file__
" 
LD_PRELOAD="$ASAN_LIB:$UBSAN_LIB" PYTHONPATH="$WORK" "$PY" -m pytest "${ARGS[@]}"
