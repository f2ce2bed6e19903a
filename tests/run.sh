#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The README's two commands, for a fresh Debian 12 machine:
#
#   bash tests/run.sh demo   installs what is missing, builds, runs the flagship demo
#   bash tests/run.sh test   installs what is missing, builds, runs the whole test
#                            suite: plain, then under valgrind memcheck,
#                            AddressSanitizer+UBSan and ThreadSanitizer
#
# A second run installs nothing and only rebuilds what changed.
set -euo pipefail

cd "$(dirname "$0")/.."
SRC=$PWD
MODE=${1:-test}

PACKAGES=(
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libglib2.0-dev libglib2.0-dev-bin gettext
  gobject-introspection libgirepository1.0-dev gir1.2-glib-2.0
  python3 python3-gi gjs valac gi-docgen
  valgrind dbus-daemon
  libgtk-4-dev gir1.2-gtk-4.0 xvfb xauth
)

install_missing () {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    local SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q </dev/null
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
  fi
}

# configure BUILDDIR [meson options...]: set up once, reconfigure if options changed
configure () {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@"
  else
    meson configure "$dir" "$@" >/dev/null
  fi
}

TOTAL_OK=0
TOTAL_FAIL=0
RUNS=()
FAILED_LOGS=()

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
  if [ "$fail" -ne 0 ]; then FAILED_LOGS+=("$json" "$label"); fi
  TOTAL_OK=$((TOTAL_OK + ok))
  TOTAL_FAIL=$((TOTAL_FAIL + fail))
  RUNS+=("$label: $ok passed, $fail failed")
}

install_missing

case "$MODE" in
  demo)
    configure _build
    ninja -C _build
    echo
    "$SRC/_build/examples/flagship"
    ;;
  test)
    echo "== machine: $(nproc) CPUs, open-file limit $(ulimit -Sn) (hard $(ulimit -Hn)), $(valgrind --version 2>/dev/null || echo 'no valgrind')"
    configure _build -Dwerror=true
    ninja -C _build
    run_suite _build plain

    if [ "${SYNCIFY_SKIP_CHECKED:-0}" != 1 ]; then
      run_suite _build valgrind --setup valgrind

      configure _build-asan -Db_sanitize=address,undefined -Db_lundef=false \
        -Dintrospection=disabled -Ddocumentation=disabled -Dgtk=disabled -Dbuildtype=debug
      ninja -C _build-asan
      run_suite _build-asan asan --setup asan

      configure _build-tsan -Db_sanitize=thread -Db_lundef=false \
        -Dintrospection=disabled -Ddocumentation=disabled -Dgtk=disabled -Dbuildtype=debug
      ninja -C _build-tsan
      SYNCIFY_TEST_QUICK=1 run_suite _build-tsan tsan --setup tsan
    fi

    echo
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
