#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Instruction counts per operation of one benchmark case, library side and
# hand-written side, under valgrind --tool=callgrind (all threads summed).
# Each side runs twice, with N1 and N2 operations; the difference divided by
# N2 - N1 cancels the start-up and warm-up costs (and, for the scale cases,
# the cost of setting up their threads and contexts).
#
#   tests/bench/callgrind.sh BUILDDIR CASE [N1 N2]
#   tests/bench/callgrind.sh _build push-invoke-bg/vs-naive 2000 12000

set -eu

build=${1:?usage: $0 BUILDDIR CASE [N1 N2]}
case_name=${2:?usage: $0 BUILDDIR CASE [N1 N2]}
n1=${3:-2000}
n2=${4:-12000}
exe=$build/tests/bench/bench-syncify
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# GSlice magazines would hide allocations; GLib 2.76+ always uses malloc.
export G_SLICE=always-malloc

total_ir () {
  # $1 side, $2 iterations
  valgrind --tool=callgrind --max-threads=1200 --callgrind-out-file="$tmp/out.$1.$2" \
    "$exe" --case "$case_name" --side "$1" --iterations "$2" >"$tmp/log.$1.$2" 2>&1 ||
    { cat "$tmp/log.$1.$2" >&2; exit 1; }
  sed -n 's/^summary: *//p; s/^totals: *//p' "$tmp/out.$1.$2" | head -n 1 | cut -d' ' -f1
}

lib1=$(total_ir lib "$n1"); lib2=$(total_ir lib "$n2")
base1=$(total_ir base "$n1"); base2=$(total_ir base "$n2")

awk -v c="$case_name" -v a1="$lib1" -v a2="$lib2" -v b1="$base1" -v b2="$base2" -v n1="$n1" -v n2="$n2" 'BEGIN {
  a = (a2 - a1) / (n2 - n1); b = (b2 - b1) / (n2 - n1);
  printf "%s: instructions per operation (callgrind, all threads): library %.0f, baseline %.0f, ratio %.2f\n", c, a, b, a / b
}'
