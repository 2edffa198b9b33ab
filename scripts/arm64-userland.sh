#!/usr/bin/env bash
# Make (once) an emulated 64-bit ARM Debian userland to test aarch64 wheels in, and print its
# path. Used by scripts/test-aarch64.sh and scripts/build-wheels.sh; needs root and Debian's
# package mirror, nothing else.
#   bash scripts/arm64-userland.sh [bookworm|trixie]     # ~5 min the first time
#   bash scripts/arm64-userland.sh --unmount [SUITE]      # when done with it
# The userland lives in $IMDB_EDGE_ARM64_ROOT (default ~/.cache/imdb-edge/arm64) /SUITE.
# qemu-user-static comes from bookworm-backports: Debian 12's qemu 7.2 shows the host's x86
# /proc/cpuinfo to the guest, and importing onnxruntime then crashes.
set -euo pipefail
if [ "${1:-}" = --unmount ]; then
  ROOTFS=${IMDB_EDGE_ARM64_ROOT:-$HOME/.cache/imdb-edge/arm64}/${2:-bookworm}
  for m in sys proc dev; do mountpoint -q "$ROOTFS/$m" && umount -l "$ROOTFS/$m"; done
  exit 0
fi
SUITE=${1:-bookworm}
BASE=${IMDB_EDGE_ARM64_ROOT:-$HOME/.cache/imdb-edge/arm64}
ROOTFS=$BASE/$SUITE
MIRROR=${IMDB_EDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { echo "arm64-userland: $*" >&2; }

ensure_host_tools() {
  local have_qemu
  have_qemu=$(dpkg-query -W -f='${Version}' qemu-user-static 2>/dev/null || true)
  if command -v debootstrap >/dev/null && [ -n "$have_qemu" ] && [[ "$have_qemu" != 1:7.* ]]; then
    return
  fi
  log "installing debootstrap, binfmt-support and qemu-user-static (backports)"
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$MIRROR" > /etc/apt/sources.list.d/imdb-edge-backports.sources
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap binfmt-support >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports qemu-user-static >/dev/null
}

ensure_binfmt() {
  # qemu 10 ships its registration for systemd-binfmt (/usr/lib/binfmt.d), which no init
  # applies here: register it by hand, replacing any older one (the kernel keeps an old
  # interpreter open, flag F, until the format is registered again).
  local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64 conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  [ -e /proc/sys/fs/binfmt_misc/register ] \
    || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  if [ -f "$conf" ]; then
    local interpreter
    interpreter=$(cut -d: -f7 "$conf")
    if [ -e "$entry" ] && ! grep -q "interpreter $interpreter" "$entry"; then
      echo -1 > "$entry"
    fi
    [ -e "$entry" ] || cat "$conf" > /proc/sys/fs/binfmt_misc/register
  else
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  fi
  grep -q enabled "$entry" || { log "qemu-aarch64 binfmt is not enabled"; exit 1; }
}

ensure_host_tools
ensure_binfmt
if [ ! -x "$ROOTFS/usr/bin/python3" ]; then
  log "debootstrap $SUITE arm64 into $ROOTFS"
  rm -rf "$ROOTFS.tmp" && mkdir -p "$BASE"
  debootstrap --arch=arm64 --variant=minbase \
    --include=python3,python3-venv,python3-dev,ca-certificates,gcc,libc6-dev \
    "$SUITE" "$ROOTFS.tmp" "$MIRROR" >"$BASE/debootstrap-$SUITE.log" 2>&1 \
    || { tail -20 "$BASE/debootstrap-$SUITE.log"; exit 1; }
  mv "$ROOTFS.tmp" "$ROOTFS"
fi
# pip inside reaches the registry the way the host does: same resolver, same CA store.
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
# /proc, and /sys for onnxruntime's cpuinfo (without it every import prints errors). No bind
# mount of /dev: debootstrap made the few device nodes needed, and a bound /dev inside a tree
# that someone later removes with rm -r would take the host's with it. The callers unmount
# (arm64-userland.sh --unmount SUITE).
mountpoint -q "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
mountpoint -q "$ROOTFS/sys" || mount -t sysfs sysfs "$ROOTFS/sys"
echo "$ROOTFS"
