#!/usr/bin/env bash
# Test DIR's aarch64 wheel in an emulated Debian arm64 userland (Raspberry Pi OS 12 = bookworm,
# CPython 3.11, qemu user mode); exits 0 only when every check holds:
#   bash scripts/test-aarch64.sh DIR          # DIR from scripts/build-wheels.sh
# 1. the wheel installs into a fresh venv with no compiler (CC=/bin/false, binaries only);
# 2. the runtime test suite passes there (IMDB_EDGE_AARCH64_TESTS="-m 'not data'" for the
#    quick form CI runs);
# 3. `imdb-edge info` reports the compiled backend;
# 4. transform_ids on 6,000 real reviews and the fuzz corpus equals x86-64's, probabilities
#    within 1e-5 (scripts/_arch_check.py, against DIR's x86-64 wheel run here);
# 5. the README's quick-start line prints the README's numbers;
# 6. the sdist builds there with gcc (compiled backend) and installs without a compiler
#    (pure-Python backend, with its warning);
# and prints wall times, the venv's installed size, peak RSS, and the vectorizer benchmark
# under emulation (absolute times mean little there; the ratios are the point).
# Needs root and the package registries; the data set is read from ../shared/data (or
# IMDB_EDGE_TEST_DATA).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash scripts/test-aarch64.sh DIR" >&2; exit 2; }
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=$(cd "$1" && pwd)
PY=${PYTHON:-python3}
DATA=${IMDB_EDGE_TEST_DATA:-$ROOT/../shared/data/aclImdb_v1.tar.gz}
TESTS_FILTER=${IMDB_EDGE_AARCH64_TESTS:-}
export QEMU_CPU=${QEMU_CPU:-cortex-a72}   # the Pi 4's core; qemu's default makes ORT warn
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }
start=$(date +%s)
fail=0
check() { if "$@"; then echo "PASS: $CHECK"; else echo "FAIL: $CHECK"; fail=1; fi; }

WHEEL=$(ls "$DIR"/imdb_edge-*-cp311-*aarch64*.whl | head -1)
X86_WHEEL=$(ls "$DIR"/imdb_edge-*-cp311-*x86_64*.whl | head -1)
SDIST=$(ls "$DIR"/imdb_edge-*.tar.gz | head -1)
[ -f "$WHEEL" ] && [ -f "$X86_WHEEL" ] && [ -f "$SDIST" ] \
  || { echo "DIR needs the cp311 aarch64 and x86-64 wheels and the sdist" >&2; exit 2; }
echo "testing $(basename "$WHEEL")"

step "emulated arm64 userland"
ROOTFS=$(bash scripts/arm64-userland.sh bookworm)
trap 'bash "$ROOT/scripts/arm64-userland.sh" --unmount bookworm' EXIT
# Only what a board's shell would have: none of this host's pip settings or variables.
IN() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root \
         LC_ALL=C.UTF-8 QEMU_CPU="$QEMU_CPU" PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"; }
check_arch() { [ "$(IN uname -m)" = aarch64 ]; }
CHECK="userland is aarch64"; check check_arch
T=/imdb-edge-test
rm -rf "$ROOTFS$T" && mkdir -p "$ROOTFS$T/data"
cp "$WHEEL" "$SDIST" "$ROOTFS$T/"
cp -r tests "$ROOTFS$T/"
cp benchmarks/vectorizer.py scripts/_arch_check.py "$ROOTFS$T/"
[ -f "$DATA" ] && cp "$DATA" "$ROOTFS$T/data/"

step "x86-64 answers (DIR's x86-64 wheel, here)"
"$PY" -m venv "$ROOTFS$T/x86-venv"
"$ROOTFS$T/x86-venv/bin/python" -m pip install -q --disable-pip-version-check "$X86_WHEEL"
DATA_ARGS=()
if [ -f "$DATA" ]; then DATA_ARGS=(--data "$DATA"); else echo "no data set at $DATA: parity on the fuzz corpus only"; fi
(cd /tmp && "$ROOTFS$T/x86-venv/bin/python" "$ROOT/scripts/_arch_check.py" dump "${DATA_ARGS[@]}" \
   --corpus "$ROOT/fuzz/corpus" "$ROOTFS$T/x86.npz")
rm -rf "$ROOTFS$T/x86-venv"

step "1. install the wheel with no compiler"
t0=$(date +%s)
IN python3 -m venv $T/venv
IN env CC=/bin/false $T/venv/bin/python -m pip install -q --only-binary :all: \
  "$T/$(basename "$WHEEL")[test]"
echo "install: $(( $(date +%s) - t0 )) s"
size_runtime() {
  IN $T/venv/bin/python - <<'PY'
import importlib.metadata as md, os, site
total = 0
for dist in ("numpy", "onnxruntime", "imdb-edge"):
    for f in md.files(dist) or []:
        p = f.locate()
        if os.path.isfile(p):
            total += os.path.getsize(p)
print(f"installed size of numpy + onnxruntime + imdb-edge: {total / 2**20:.0f} MB")
PY
}
size_runtime

step "2. runtime test suite under emulation"
t0=$(date +%s)
CHECK="runtime test suite"
check IN /bin/sh -c "cd $T && IMDB_EDGE_RUNTIME_ONLY=1 IMDB_EDGE_REQUIRE_EXTENSION=1 \
  IMDB_EDGE_TEST_DATA=$T/data/$(basename "$DATA") \
  $T/venv/bin/python -m pytest -q -p no:cacheprovider --rootdir . tests \
  --ignore=tests/test_train.py $TESTS_FILTER"
echo "tests: $(( $(date +%s) - t0 )) s"

step "3. imdb-edge info"
info=$(IN $T/venv/bin/imdb-edge info)
echo "$info" | grep -E "^(backend|onnxruntime|threads) "
CHECK="compiled backend"; check grep -qE "^backend +cython$" <<<"$info"

step "4. same ids and probabilities as x86-64"
CHECK="parity with x86-64"; check IN $T/venv/bin/python $T/_arch_check.py compare $T/x86.npz

step "5. the README's quick start"
quick=$(IN $T/venv/bin/imdb-edge score "This movie was great" "Worst film ever, a total waste")
echo "$quick"
# the two lines the README says it prints ("The first prints `A` and `B`."), not a copy here
readme=$(sed -n 's/^The first prints `\([^`]*\)` and `\([^`]*\)`.*/\1\n\2/p' "$ROOT/README.md")
CHECK="quick-start output as the README says"; check test -n "$readme" -a "$quick" = "$readme"

step "vectorizer benchmark under emulation (2,000 reviews)"
if [ -f "$DATA" ]; then
  IN /bin/sh -c "cd $T && $T/venv/bin/python vectorizer.py --data $T/data/$(basename "$DATA") \
    --limit 2000 --repeats 2" || { echo "FAIL: benchmark"; fail=1; }
else
  echo "skipped: no data set at $DATA"
fi

step "6a. sdist with gcc"
t0=$(date +%s)
IN python3 -m venv $T/sdist-venv
IN env IMDB_EDGE_REQUIRE_EXTENSION=1 $T/sdist-venv/bin/python -m pip install -q "$T/$(basename "$SDIST")"
backend=$(IN $T/sdist-venv/bin/python -c "import imdb_edge; print(imdb_edge.Vectorizer.load().backend)")
echo "sdist build with gcc: $(( $(date +%s) - t0 )) s, backend $backend"
CHECK="sdist builds the extension"; check test "$backend" = cython

step "6b. sdist without a compiler"
IN python3 -m venv $T/nocc-venv
IN env CC=/bin/false $T/nocc-venv/bin/python -m pip install -q "$T/$(basename "$SDIST")"
out=$(IN $T/nocc-venv/bin/python -c "import imdb_edge; print(imdb_edge.Vectorizer.load().backend); print(imdb_edge.score(['This movie was great'])[0])" 2>&1)
echo "$out"
CHECK="pure-Python fallback with its warning"
check grep -q "RuntimeWarning: imdb_edge: the compiled vectorizer is not available" <<<"$out"
check grep -qx python <<<"$out"

rm -rf "$ROOTFS$T"
step "$( [ $fail -eq 0 ] && echo 'all checks passed' || echo 'SOME CHECKS FAILED' ) in $(( $(date +%s) - start )) s"
exit $fail
