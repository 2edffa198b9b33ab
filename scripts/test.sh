#!/usr/bin/env bash
# The test command: no root, nothing outside the folder it names but pip's cache.
#
#   bash scripts/test.sh [VENV] [PYTEST ARGS...]
#
# Makes (or reuses) a virtual environment in VENV (default: .venv-test), installs this
# checkout into it with `pip install ".[test]"` (the compiled vectorizer is built when a C
# compiler and the Python headers are there, else the pure-Python one is tested), and runs
# the tests against the installed package, from a copy of tests/ beside the README, docs and
# fuzz corpora they read, so the source tree's imdb_edge/ (without the extension) is never
# imported by mistake.
#
#   IMDB_EDGE_TEST_TRAIN=1     also install the train extra (TensorFlow) and run the `train`
#                              tests; without it they are deselected (-m "not train")
#   IMDB_EDGE_TEST_EXTRAS=a,b  extras to install besides test (e.g. dask,spark: their tests
#                              are skipped when the extra is absent)
#   IMDB_EDGE_TEST_DATA=PATH   aclImdb_v1.tar.gz for the `data` tests (default:
#                              ../shared/data/aclImdb_v1.tar.gz); skipped when not found
#   PYTHON=python3.12          the interpreter for the venv (3.11 to 3.13)
#   IMDB_EDGE_TEST_SKIPPED=F   write the ids of skipped and deselected tests to F (CI runs
#                              those in its training environment)
#
# Measured on 2 cores: 3 to 6 min from an empty VENV (install included; about 475 tests, the
# data-set and docs-example ones among them; 5 min 38 s with CI running on the same machine).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
VENV=.venv-test
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then VENV=$1; shift; fi
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
export PIP_DISABLE_PIP_VERSION_CHECK=1 TF_CPP_MIN_LOG_LEVEL=2

extras=test
[ -n "${IMDB_EDGE_TEST_EXTRAS:-}" ] && extras="$extras,$IMDB_EDGE_TEST_EXTRAS"
[ "${IMDB_EDGE_TEST_TRAIN:-0}" = 1 ] && extras="$extras,train"

if [ ! -x "$VENV/bin/python" ]; then
  echo "test.sh: creating $VENV" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade "pip>=24"
fi
echo "test.sh: pip install \".[$extras]\" into $VENV" >&2
"$VENV/bin/python" -m pip install -q ".[$extras]"

# The copy the tests run from: what they read of the checkout, without imdb_edge/ itself.
RUN="$VENV/run"
rm -rf "$RUN" && mkdir -p "$RUN"
cp -r tests README.md "$RUN/"
for extra in docs fuzz src_ext; do [ -e "$extra" ] && cp -r "$extra" "$RUN/"; done
export IMDB_EDGE_TEST_DATA=${IMDB_EDGE_TEST_DATA:-$ROOT/../shared/data/aclImdb_v1.tar.gz}

args=()
if [ "${IMDB_EDGE_TEST_TRAIN:-0}" != 1 ]; then
  args+=(-m "not train")
fi
# Without TensorFlow, also run the test that proves the runtime does without it.
has_tf=$("$VENV/bin/python" -c "import importlib.util as u; print(int(u.find_spec('tensorflow') is not None))")
[ "$has_tf" = 0 ] && export IMDB_EDGE_RUNTIME_ONLY=1
if [ -n "${IMDB_EDGE_TEST_SKIPPED:-}" ]; then
  case "$IMDB_EDGE_TEST_SKIPPED" in /*) ;; *) export IMDB_EDGE_TEST_SKIPPED="$ROOT/$IMDB_EDGE_TEST_SKIPPED" ;; esac
  export PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}"
  args+=(-p _pytest_skipped)
fi
cd "$RUN"
status=0
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --rootdir . "${args[@]}" "$@" tests || status=$?
# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
[ "$status" -eq 5 ] && echo "test.sh: pytest ran no tests" >&2 && exit 1
exit "$status"
