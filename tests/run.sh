#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The README's two commands, for a fresh Debian 12 (bookworm) or Debian 13
# (trixie) machine:
#
#   bash tests/run.sh demo   installs what is missing, builds, runs the flagship demo
#   bash tests/run.sh test   installs what is missing, builds, runs the whole test
#                            suite: plain, then under valgrind memcheck,
#                            AddressSanitizer+UBSan and ThreadSanitizer; then,
#                            on Debian 12, builds again and runs the plain suite
#                            inside a Debian 13 root (see "Debian 13" below)
#
# A second run installs nothing and only rebuilds what changed.
#
# The valgrind and sanitizer runs are set up for Debian 12's toolchain and
# run there only. On a system it does not know, the script says so before
# installing anything and tries Debian 13's package names.
#
# Environment:
#   SYNCIFY_SKIP_CHECKED=1   skip the valgrind, ASan and TSan runs
#   SYNCIFY_SKIP_TRIXIE=1    skip the Debian 13 root
#   SYNCIFY_TRIXIE_CACHE     where the Debian 13 root is kept between runs
#                            (default /var/cache/syncify-glib/trixie)
#   SYNCIFY_DEBIAN_MIRROR    the mirror for debootstrap (default: the one the
#                            host's apt sources use)
#   SYNCIFY_BUILDDIR         the build directory of the plain run (default _build)
set -euo pipefail

cd "$(dirname "$0")/.."
SRC=$PWD
MODE=${1:-test}
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

BUILDDIR=${SYNCIFY_BUILDDIR:-_build}
# Set by the outer run for the run inside the Debian 13 root.
PLATFORM=${SYNCIFY_PLATFORM:-}
RESULT_FILE=${SYNCIFY_RESULT_FILE:-}

# ------------------------------------------------------------------------
# The system and its packages
# ------------------------------------------------------------------------

os_field () {
  local value=""
  if [ -r /etc/os-release ]; then
    value=$(sed -n "s/^$1=//p" /etc/os-release | head -1)
    value=${value#\"}
    value=${value%\"}
  fi
  printf '%s' "$value"
}

OS_ID=$(os_field ID)
OS_VERSION_ID=$(os_field VERSION_ID)
OS_CODENAME=$(os_field VERSION_CODENAME)
OS_NAME=$(os_field PRETTY_NAME)
OS_NAME=${OS_NAME:-an unknown system (no /etc/os-release)}

# The Debian release this is (12, 13), or empty when it is none of those.
RELEASE=""
if [ "$OS_ID" = debian ]; then
  case "$OS_VERSION_ID:$OS_CODENAME" in
    12:*|*:bookworm) RELEASE=12 ;;
    13:*|*:trixie)   RELEASE=13 ;;
  esac
fi

# packages_for RELEASE WHAT: the packages one kind of run needs on a Debian
# release. WHAT is "plain" (build everything, run the plain suite, the demo)
# or "checked" (the valgrind and sanitizer runs, on top of plain).
packages_for () {
  local release=$1 what=$2
  local plain=(
    meson ninja-build pkg-config gcc gettext
    libglib2.0-dev libglib2.0-dev-bin gobject-introspection
    python3 python3-gi gjs valac gi-docgen dbus-daemon
    libgtk-4-dev gir1.2-gtk-4.0 xvfb xauth
    valgrind
  )
  local checked=()
  case "$release" in
    12)
      plain+=(libgirepository1.0-dev gir1.2-glib-2.0)
      checked=(clang libclang-rt-14-dev)
      ;;
    *)
      # Debian 13: GLib's own GIR files moved to gir1.2-glib-2.0-dev
      # (libgirepository1.0-dev still has g-ir-scanner's pkg-config file).
      plain+=(libgirepository1.0-dev gir1.2-glib-2.0-dev)
      checked=(clang libclang-rt-19-dev)
      ;;
  esac
  if [ "$what" = checked ]; then
    printf '%s\n' "${plain[@]}" "${checked[@]}"
  else
    printf '%s\n' "${plain[@]}"
  fi
}

as_root () {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  else
    sudo "$@"
  fi
}

# install_missing PACKAGE...: apt-get install what is not installed yet.
install_missing () {
  local missing=() p
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "== no dpkg/apt-get on $OS_NAME: install these (or their equivalents) by hand: $*"
    return 0
  fi
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q </dev/null
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
  fi
}

# Say what this runs on, before installing anything.
say_system () {
  if [ -n "$RELEASE" ]; then
    echo "== system: $OS_NAME (Debian $RELEASE package names)"
  else
    echo "== system: $OS_NAME: tests/run.sh knows Debian 12 (bookworm) and"
    echo "   Debian 13 (trixie) only. Trying Debian 13's package names; if one is"
    echo "   missing here, install its equivalent by hand and run this again."
  fi
}

# configure BUILDDIR [meson options...]: set up once, reconfigure if options changed
configure () {
  local dir=$1; shift
  local out
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@"
  elif ! out=$(meson configure "$dir" "$@" 2>&1); then
    # An option of an older tree may no longer fit (it changed type, say):
    # start that build directory again.
    printf '%s\n' "$out" | tail -5
    echo "== $dir: cannot be reconfigured; setting it up from scratch"
    rm -rf "$dir"
    meson setup "$dir" "$@"
  fi
}

TOTAL_OK=0
TOTAL_FAIL=0
RUNS=()
FAILED_LOGS=()
FAILED_STEPS=()

# failed_tests JSONLOG LABEL: name every test that did not pass in a meson
# JSON test log, with the last lines of its output, so that the end of the
# run (all a CI excerpt may keep) says what failed and why.
failed_tests () {
  python3 - "$1" "$2" <<'PY'
import json, re, sys
path, label = sys.argv[1], sys.argv[2]
try:
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
except OSError:
    sys.exit(0)
for line in lines:
    t = json.loads(line)
    if t["result"] in ("OK", "SKIP", "EXPECTEDFAIL"):
        continue
    print("-- %s: %s %s (exit %s, %.1f s); its first valgrind or sanitizer error, if any, and last lines:"
          % (label, t["name"], t["result"], t.get("returncode"), t.get("duration", 0)))
    text = (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")
    out = [l for l in text.splitlines()
           if "GLib-DEBUG: g_set_user_dirs" not in l and "GLib-GIO-DEBUG" not in l]
    # The first error report (valgrind, or a sanitizer's), which the end of
    # the output may not show
    first = next((i for i, l in enumerate(out)
                  if re.match(r"==\d+== (Invalid|Conditional|Use of|Syscall|Mismatched|Source and"
                              r"|.*definitely lost in loss record)"
                              r"|WARNING: ThreadSanitizer|==\d+==ERROR: \w+Sanitizer", l)), None)
    if first is not None and first < len(out) - 40:
        for l in out[first:first + 30]:
            print("   | " + l[:300])
        print("   | ...")
    for l in out[-40:]:
        print("   | " + l[:300])
PY
}

# step_failed LABEL LOG WHAT: count a step that failed before any test ran
# (a build, a set-up), naming it and the end of its log at the end of the run.
step_failed () {
  local label=$1 log=$2 what=$3
  TOTAL_FAIL=$((TOTAL_FAIL + 1))
  RUNS+=("$label: $what")
  FAILED_STEPS+=("$label" "$log" "$what")
}

# record_run LABEL OK FAIL JSON: a suite's results, into the totals.
record_run () {
  local label=$1 ok=$2 fail=$3 json=$4
  if [ "$fail" -ne 0 ]; then FAILED_LOGS+=("$json" "$label"); fi
  TOTAL_OK=$((TOTAL_OK + ok))
  TOTAL_FAIL=$((TOTAL_FAIL + fail))
  RUNS+=("$label: $ok passed, $fail failed")
}

# write_result LABEL OK FAIL WHERE: inside the Debian 13 root, a line of the
# result file the outer run reads (nothing otherwise).
write_result () {
  if [ -n "$RESULT_FILE" ]; then
    printf '%s %s %s %s\n' "$@" >> "$RESULT_FILE"
  fi
}

# run_suite BUILDDIR LABEL [meson test options...]
run_suite () {
  local dir=$1 label=$2; shift 2
  local log="$dir/meson-logs/run-$label.txt"
  local setup="" prev="" a
  for a in "$@"; do
    if [ "$prev" = "--setup" ]; then setup=$a; fi
    prev=$a
  done
  local json="$dir/meson-logs/testlog${setup:+-$setup}.json"
  rm -f "$json"
  echo "== $label: meson test -C $dir $*"
  set +e
  # The long soak (suite soak) is for `meson test --suite soak` by hand.
  meson test -C "$dir" --print-errorlogs --num-processes 2 --no-suite soak "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local ok fail
  ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
  fail=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $2} END {print s+0}' "$log")
  ok=${ok:-0}
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
  record_run "$label" "$ok" "$fail" "$json"
  write_result "$label" "$ok" "$fail" "$(readlink -f "$json")"
}

# build_and_run_plain: the -Dwerror build and the plain suite, in BUILDDIR.
build_and_run_plain () {
  local label=${PLATFORM:+$PLATFORM-}plain
  local log
  mkdir -p "$(dirname "$BUILDDIR")"
  log=$(mktemp)
  set +e
  { configure "$BUILDDIR" -Dwerror=true && ninja -C "$BUILDDIR"; } 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    mkdir -p "$BUILDDIR/meson-logs"
    cp "$log" "$BUILDDIR/meson-logs/build-failed.txt"
    rm -f "$log"
    step_failed "${PLATFORM:+$PLATFORM-}build" "$(readlink -f "$BUILDDIR/meson-logs/build-failed.txt")" \
      "the -Dwerror=true build failed"
    write_result "${PLATFORM:+$PLATFORM-}build" 0 1 \
      "build:$(readlink -f "$BUILDDIR/meson-logs/build-failed.txt")"
    return 1
  fi
  rm -f "$log"
  run_suite "$BUILDDIR" "$label"
}

# ------------------------------------------------------------------------
# Debian 13: the plain suite in a debootstrapped root, cached between runs
# ------------------------------------------------------------------------

TRIXIE_CACHE=${SYNCIFY_TRIXIE_CACHE:-/var/cache/syncify-glib/trixie}
TRIXIE_ROOT=$TRIXIE_CACHE/root
TRIXIE_BUILD=/var/tmp/syncify-glib-build      # inside the root
TRIXIE_MOUNTS=()

# The Debian mirror the host's apt uses: the first deb source for the host's
# own suite, from sources.list, *.list or deb822 *.sources.
host_mirror () {
  if [ -n "${SYNCIFY_DEBIAN_MIRROR:-}" ]; then
    echo "$SYNCIFY_DEBIAN_MIRROR"
    return
  fi
  local files=()
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  local f
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk -v codename="$OS_CODENAME" '
    function consider(uri, suites,    n, i, s) {
      if (uri == "" || uri ~ /security/) return
      n = split(suites, s, /[ \t]+/)
      for (i = 1; i <= n; i++) {
        if (s[i] == codename && exact == "") exact = uri
        if (s[i] !~ /-(security|updates|backports|proposed-updates)$/ && any == "") any = uri
      }
    }
    FILENAME ~ /\.sources$/ {
      if (FNR == 1) { flush() }
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      if ($0 ~ /^[ \t]*#/) next
      if (match($0, /^[A-Za-z-]+:/)) {
        key = tolower(substr($0, 1, RLENGTH - 1)); val = substr($0, RLENGTH + 1)
        sub(/^[ \t]+/, "", val); sub(/[ \t]+$/, "", val)
        f[key] = val
      }
      next
    }
    function flush(    u) {
      if (("types" in f) && f["types"] ~ /(^|[ \t])deb([ \t]|$)/ && tolower(f["enabled"]) != "no") {
        split(f["uris"], u, /[ \t]+/)
        consider(u[1], f["suites"])
      }
      delete f
    }
    /^[ \t]*deb[ \t]/ {
      line = $0
      sub(/^[ \t]*deb[ \t]+/, "", line)
      if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
      split(line, w, /[ \t]+/)
      consider(w[1], w[2])
    }
    END { flush(); if (exact != "") print exact; else if (any != "") print any }
  ' "${files[@]}" | sed 's,/*$,,'
}

trixie_unmount () {
  local i pid root
  # Whatever the suite left running inside the root (a stray Xvfb or
  # dbus-daemon) would keep its mounts busy: end those processes, by id.
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    root=$(readlink "/proc/$pid/root" 2>/dev/null || true)
    if [ "$root" = "$TRIXIE_ROOT" ]; then
      as_root kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for ((i = ${#TRIXIE_MOUNTS[@]} - 1; i >= 0; i--)); do
    umount_quietly "${TRIXIE_MOUNTS[i]}"
  done
  TRIXIE_MOUNTS=()
}

# umount_quietly DIR: unmount, lazily if it is busy; never fails.
umount_quietly () {
  as_root umount "$1" 2>/dev/null || as_root umount -l "$1" 2>/dev/null || true
}

# The end of run_trixie, whichever way it ends: unmount what it mounted,
# drop its traps, release the cache lock (its caller's lock_fd).
trixie_leave () {
  trixie_unmount
  trap - EXIT INT TERM
  exec {lock_fd}>&-
}

# Is anything mounted at or below DIR?
mounted_below () {
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' \
    /proc/self/mountinfo
}

trixie_mount () {
  local r=$TRIXIE_ROOT m
  # Mounts left by an earlier run that was killed: they are this script's.
  for m in $(awk -v d="$r" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount_quietly "$m"
  done
  as_root mount -t proc proc "$r/proc" && TRIXIE_MOUNTS+=("$r/proc")
  as_root mount -t sysfs sysfs "$r/sys" && TRIXIE_MOUNTS+=("$r/sys")
  as_root mount --bind /dev "$r/dev" && TRIXIE_MOUNTS+=("$r/dev")
  as_root mount --bind /dev/pts "$r/dev/pts" && TRIXIE_MOUNTS+=("$r/dev/pts")
  as_root mount -t tmpfs -o mode=1777 shm "$r/dev/shm" && TRIXIE_MOUNTS+=("$r/dev/shm")
}

# in_trixie COMMAND...: run a command in the root, with a clean environment.
in_trixie () {
  as_root chroot "$TRIXIE_ROOT" /usr/bin/env -i \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LANG=C.UTF-8 \
    TERM="${TERM:-dumb}" CI="${CI:-}" DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}

# Makes (once) and updates (when its package list changed) the Debian 13
# root, then builds the project in it from a copy of this tree and runs the
# plain suite there. Counts into the totals like the other runs.
run_trixie () {
  local log=$TRIXIE_CACHE/last-run.log
  local started=$SECONDS
  echo
  echo "== debian13: the -Dwerror build and plain suite in a Debian 13 (trixie) root at $TRIXIE_ROOT"
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    step_failed debian13-setup /dev/null "needs root (debootstrap, mount, chroot); set SYNCIFY_SKIP_TRIXIE=1 to skip"
    return 0
  fi
  as_root mkdir -p "$TRIXIE_CACHE"
  as_root touch "$TRIXIE_CACHE/lock"
  # One run at a time per cache.
  exec {lock_fd}<"$TRIXIE_CACHE/lock"
  flock "$lock_fd"

  local mirror packages wanted
  mirror=$(host_mirror)
  if [ -z "$mirror" ]; then
    step_failed debian13-setup /dev/null "no Debian mirror in the host's apt sources; set SYNCIFY_DEBIAN_MIRROR"
    trixie_leave
    return 0
  fi
  packages=$(packages_for 13 plain | sort | tr '\n' ' ')
  # What the root must have been made with: a changed list refreshes it.
  wanted=$( { echo "format 1"; echo "suite trixie variant minbase"; echo "packages $packages"; } \
              | sha256sum | cut -d' ' -f1)

  trap 'trixie_unmount' EXIT
  trap 'trixie_unmount; exit 130' INT TERM

  # 1. The base system: debootstrap into a new directory, renamed only once
  #    complete, so a root that exists is a whole one.
  if [ ! -f "$TRIXIE_CACHE/debootstrap.done" ] || [ ! -x "$TRIXIE_ROOT/bin/bash" ]; then
    for d in "$TRIXIE_ROOT" "$TRIXIE_ROOT.new"; do
      if mounted_below "$d"; then
        step_failed debian13-setup /dev/null "something is still mounted below $d; not removing it"
        trixie_leave
        return 0
      fi
    done
    as_root rm -rf "$TRIXIE_ROOT" "$TRIXIE_ROOT.new" "$TRIXIE_CACHE/debootstrap.done" "$TRIXIE_CACHE/stamp"
    echo "== debian13: debootstrap --variant=minbase trixie $TRIXIE_ROOT $mirror"
    if ! as_root debootstrap --variant=minbase trixie "$TRIXIE_ROOT.new" "$mirror" \
        > "$TRIXIE_CACHE/debootstrap.log" 2>&1; then
      tail -20 "$TRIXIE_CACHE/debootstrap.log"
      step_failed debian13-setup "$TRIXIE_CACHE/debootstrap.log" "debootstrap failed"
      trixie_leave
      return 0
    fi
    as_root mv "$TRIXIE_ROOT.new" "$TRIXIE_ROOT"
    as_root touch "$TRIXIE_CACHE/debootstrap.done"
    echo "== debian13: base system made in $((SECONDS - started)) s"
  else
    echo "== debian13: reusing the root made $(date -r "$TRIXIE_CACHE/debootstrap.done" '+%F %R')"
  fi

  # The current mirror and name servers, for apt inside.
  echo "deb $mirror trixie main" | as_root tee "$TRIXIE_ROOT/etc/apt/sources.list" >/dev/null
  as_root cp -L /etc/resolv.conf "$TRIXIE_ROOT/etc/resolv.conf" 2>/dev/null || true

  trixie_mount

  # 2. The packages, through this script's own list for Debian 13.
  if [ "$(cat "$TRIXIE_CACHE/stamp" 2>/dev/null)" != "$wanted" ]; then
    as_root rm -f "$TRIXIE_CACHE/stamp"
    as_root rm -rf "$TRIXIE_ROOT/src/syncify-glib"
    as_root mkdir -p "$TRIXIE_ROOT/src/syncify-glib/tests"
    as_root cp "$SRC/tests/run.sh" "$TRIXIE_ROOT/src/syncify-glib/tests/run.sh"
    echo "== debian13: installing the packages (log: $TRIXIE_CACHE/packages.log)"
    if ! in_trixie bash /src/syncify-glib/tests/run.sh deps 2>&1 \
        | as_root tee "$TRIXIE_CACHE/packages.log" | grep '^== '; then
      step_failed debian13-setup "$TRIXIE_CACHE/packages.log" "installing the packages failed"
      trixie_leave
      return 0
    fi
    echo "$wanted" | as_root tee "$TRIXIE_CACHE/stamp" >/dev/null
    echo "== debian13: packages installed ($((SECONDS - started)) s so far)"
  fi

  # 3. A copy of this tree (without build directories or .git; mtimes kept,
  #    so the build directory inside is only updated), then the build and
  #    the plain suite.
  as_root rm -rf "$TRIXIE_ROOT/src/syncify-glib"
  as_root mkdir -p "$TRIXIE_ROOT/src/syncify-glib"
  tar -C "$SRC" --exclude='./_build*' --exclude=./.git -cf - . \
    | as_root tar -C "$TRIXIE_ROOT/src/syncify-glib" -xf -
  as_root rm -f "$TRIXIE_ROOT$TRIXIE_BUILD/result.txt"
  in_trixie env SYNCIFY_PLATFORM=debian13 SYNCIFY_SKIP_CHECKED=1 SYNCIFY_SKIP_TRIXIE=1 \
    SYNCIFY_BUILDDIR="$TRIXIE_BUILD/build" SYNCIFY_RESULT_FILE="$TRIXIE_BUILD/result.txt" \
    bash /src/syncify-glib/tests/run.sh test 2>&1 | as_root tee "$log" || true

  trixie_leave
  echo "== debian13: done in $((SECONDS - started)) s"

  # 4. Its results, into the totals.
  local label ok fail json
  if [ ! -s "$TRIXIE_ROOT$TRIXIE_BUILD/result.txt" ]; then
    step_failed debian13-build "$log" "no result: the run inside the root stopped early"
    return 0
  fi
  while read -r label ok fail json; do
    case "$json" in
      build:*)
        step_failed "$label" "$TRIXIE_ROOT${json#build:}" "the -Dwerror=true build failed"
        ;;
      *)
        record_run "$label" "$ok" "$fail" "$TRIXIE_ROOT$json"
        ;;
    esac
  done < "$TRIXIE_ROOT$TRIXIE_BUILD/result.txt"
}

# ------------------------------------------------------------------------

say_system
pkg_release=${RELEASE:-13}

case "$MODE" in
  demo)
    mapfile -t wanted < <(packages_for "$pkg_release" plain)
    install_missing "${wanted[@]}"
    configure "$BUILDDIR"
    ninja -C "$BUILDDIR"
    echo
    "$BUILDDIR/examples/flagship"
    ;;
  deps)
    # Internal: only install the packages of the plain suite (used to set up
    # the Debian 13 root).
    mapfile -t wanted < <(packages_for "$pkg_release" plain)
    install_missing "${wanted[@]}"
    ;;
  test)
    checked=1
    if [ "${SYNCIFY_SKIP_CHECKED:-0}" = 1 ]; then
      checked=0
    elif [ "$RELEASE" != 12 ]; then
      echo "== the valgrind and sanitizer runs are set up for Debian 12 only: skipped on $OS_NAME"
      checked=0
    fi
    trixie=1
    if [ "${SYNCIFY_SKIP_TRIXIE:-0}" = 1 ]; then
      trixie=0
    elif [ "$RELEASE" != 12 ]; then
      echo "== the Debian 13 root is made from Debian 12 only: skipped on $OS_NAME"
      trixie=0
    fi
    mapfile -t wanted < <(packages_for "$pkg_release" "$([ $checked = 1 ] && echo checked || echo plain)")
    if [ $trixie = 1 ]; then wanted+=(debootstrap); fi
    install_missing "${wanted[@]}"

    echo "== machine: $(nproc) CPUs, open-file limit $(ulimit -Sn) (hard $(ulimit -Hn)), $(valgrind --version 2>/dev/null || echo 'no valgrind')"
    plain_built=1
    build_and_run_plain || plain_built=0

    if [ $checked = 1 ]; then
      if [ $plain_built = 1 ]; then
        run_suite "$BUILDDIR" valgrind --setup valgrind
      fi

      # The ASan build also uses the portable waiter (GMutex and GCond),
      # so the one for systems without futexes is built and run too.
      configure _build-asan -Db_sanitize=address,undefined -Db_lundef=false \
        -Dintrospection=disabled -Ddocumentation=disabled -Dgtk=disabled -Dbuildtype=debug \
        -Dfutex=disabled
      ninja -C _build-asan
      run_suite _build-asan asan --setup asan

      configure _build-tsan -Db_sanitize=thread -Db_lundef=false \
        -Dintrospection=disabled -Ddocumentation=disabled -Dgtk=disabled -Dbuildtype=debug
      ninja -C _build-tsan
      SYNCIFY_TEST_QUICK=1 run_suite _build-tsan tsan --setup tsan
    fi

    if [ $trixie = 1 ]; then
      run_trixie
    fi

    if [ -n "$RESULT_FILE" ]; then
      # Inside the Debian 13 root: the outer run reports and counts.
      echo "== debian13 part: $TOTAL_OK passed, $TOTAL_FAIL failed"
      exit 0
    fi
    echo
    for ((i = 0; i < ${#FAILED_STEPS[@]}; i += 3)); do
      echo "-- ${FAILED_STEPS[i]}: ${FAILED_STEPS[i+2]}; the last lines of ${FAILED_STEPS[i+1]}:"
      tail -40 "${FAILED_STEPS[i+1]}" 2>/dev/null | sed 's/^/   | /' || true
    done
    for ((i = 0; i < ${#FAILED_LOGS[@]}; i += 2)); do
      failed_tests "${FAILED_LOGS[i]}" "${FAILED_LOGS[i+1]}" || true
    done
    for r in "${RUNS[@]}"; do echo "   $r"; done
    echo "summary: $TOTAL_OK passed, $TOTAL_FAIL failed"
    [ "$TOTAL_FAIL" -eq 0 ]
    ;;
  *)
    echo "usage: bash tests/run.sh demo|test" >&2
    exit 2
    ;;
esac
