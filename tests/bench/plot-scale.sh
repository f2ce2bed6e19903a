#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The scaling plot of the README: latency against threads blocked in the
# library, live contexts and queued asyncify jobs, pinned and unpinned.
# Runs the scale cases of bench-syncify twice (--pin and not, --quick,
# --plot) and draws their CSV with gnuplot (Debian: gnuplot-nox) into an SVG.
#
#   tests/bench/plot-scale.sh BUILDDIR [OUT.svg]        (about 3 minutes)
#   tests/bench/plot-scale.sh _build doc/scale.svg
#
# PLOT_CSV_DIR=DIR reuses DIR/scale-pinned.csv and DIR/scale-unpinned.csv
# (from bench-syncify --plot DIR) instead of running the benchmarks.

set -eu

build=${1:?usage: $0 BUILDDIR [OUT.svg]}
out=${2:-doc/scale.svg}
exe=$build/tests/bench/bench-syncify
cases='scale-blocked-*,scale-bg-contexts-*,scale-wrapped-*,scale-asyncify-10000,scale-asyncify-100000'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v gnuplot >/dev/null || { echo "$0: gnuplot is needed (apt-get install gnuplot-nox)" >&2; exit 1; }

if [ -n "${PLOT_CSV_DIR:-}" ]; then
  csv=$PLOT_CSV_DIR
else
  csv=$tmp
  "$exe" --quick --pin --case "$cases" --plot "$csv"
  "$exe" --quick --pairs 9 --case "$cases" --plot "$csv"
fi

# One file per series and mode, sorted by scale; a scale of 0 is drawn at 1
# on the logarithmic axis (labelled 0).
for mode in pinned unpinned; do
  for series in blocked bg-contexts wrapped-invoke wrapped-private queued; do
    awk -F, -v s="$series" '$1 == s { x = ($2 == 0 ? 1 : $2); print x, $3 / 1000, $4 }' \
      "$csv/scale-$mode.csv" | sort -n >"$tmp/$series-$mode.dat"
  done
done

gnuplot <<GNUPLOT
set terminal svg size 1200,760 font "sans,11" background rgb "white" noenhanced
set output "$out"
set datafile missing "nan"
set multiplot layout 2,3 title "syncify-glib: cost as the work grows. Top: median per call. Bottom: ratio to the smallest scale, same run, interleaved. Solid: pinned to one CPU, dashed: unpinned (2 vCPUs, shared)"
set logscale x
set grid
set key top left font ",9"
set style line 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.7
set style line 2 lc rgb "#1f77b4" lw 2 pt 6 ps 0.7 dt 2
set style line 3 lc rgb "#d62728" lw 2 pt 5 ps 0.7
set style line 4 lc rgb "#d62728" lw 2 pt 4 ps 0.7 dt 2
set style line 5 lc rgb "#2ca02c" lw 2 pt 9 ps 0.7
set style line 6 lc rgb "#2ca02c" lw 2 pt 8 ps 0.7 dt 2
set style line 9 lc rgb "#777777" lw 1 dt 3

kx = "set xtics (\\"0\\" 1, \\"10\\" 10, \\"100\\" 100, \\"1000\\" 1000)"
cx = "set xtics (\\"0\\" 1, \\"10\\" 10, \\"100\\" 100, \\"1000\\" 1000, \\"10000\\" 10000)"
qx = "set xtics (\\"1e3\\" 1000, \\"1e4\\" 10000, \\"1e5\\" 100000)"

do for [col in "2 3"] {
  c = int(col)
  if (c == 2) { set yrange [0:*]; yl = "us per call"; } else { set yrange [0:2]; yl = "ratio to the smallest scale"; }

  set title "invoke_sync while K threads are blocked"
  set xlabel "threads blocked in the library (K)"
  set ylabel yl
  eval kx
  plot "$tmp/blocked-pinned.dat" using 1:c with linespoints ls 1 title "pinned", \\
       "$tmp/blocked-unpinned.dat" using 1:c with linespoints ls 2 title "unpinned", \\
       (c == 3 ? 1.2 : 1/0) with lines ls 9 title (c == 3 ? "target 1.2" : "")

  set title "blocking calls with C live contexts"
  set xlabel "live contexts (C)"
  eval cx
  plot "$tmp/bg-contexts-pinned.dat" using 1:c with linespoints ls 1 title "invoke onto 1 of C background", \\
       "$tmp/bg-contexts-unpinned.dat" using 1:c with linespoints ls 2 notitle, \\
       "$tmp/wrapped-invoke-pinned.dat" using 1:c with linespoints ls 3 title "invoke, C wrapped contexts alive", \\
       "$tmp/wrapped-invoke-unpinned.dat" using 1:c with linespoints ls 4 notitle, \\
       "$tmp/wrapped-private-pinned.dat" using 1:c with linespoints ls 5 title "private path, C wrapped alive", \\
       "$tmp/wrapped-private-unpinned.dat" using 1:c with linespoints ls 6 notitle, \\
       (c == 3 ? 1.2 : 1/0) with lines ls 9 notitle

  set title "asyncify: N jobs queued at once"
  set xlabel "jobs queued at once from the loop (N)"
  set ylabel (c == 2 ? "us per job" : yl)
  eval qx
  plot "$tmp/queued-pinned.dat" using 1:c with linespoints ls 1 title "pinned", \\
       "$tmp/queued-unpinned.dat" using 1:c with linespoints ls 2 title "unpinned"
}
unset multiplot
GNUPLOT

echo "wrote $out"
