#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A program outside the project builds against syncify-glib the two ways a
# user would: the uninstalled pkg-config file of the build tree, and the
# installed one after `meson install` into a prefix. The programs are the
# README's two examples, extracted from README.md, so the README cannot rot.
set -eu
SRC=$1
BUILD=$2
CC=${CC:-cc}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The README's C blocks: the first is the asyncify program, the second the
# syncify function (compiled as an object, it has no main()).
awk '/^```c$/ {n++; on=1; next} /^```$/ {on=0} on {print > ("'"$TMP"'/readme" n ".c")}' "$SRC/README.md"
test -s "$TMP/readme1.c"
test -s "$TMP/readme2.c"

echo "# uninstalled: PKG_CONFIG_PATH=$BUILD/meson-uninstalled"
flags=$(PKG_CONFIG_PATH="$BUILD/meson-uninstalled" pkg-config --cflags --libs syncify-glib-1)
$CC -Wall -Werror -o "$TMP/readme1" "$TMP/readme1.c" $flags
$CC -Wall -Werror -c -o "$TMP/readme2.o" "$TMP/readme2.c" $flags
printf 'a\nb\nc\n' > "$TMP/input"
sed -i "s|/etc/passwd|$TMP/input|" "$TMP/readme1.c"
$CC -Wall -Werror -o "$TMP/readme1" "$TMP/readme1.c" $flags
out=$(LD_LIBRARY_PATH="$BUILD/syncify-glib" "$TMP/readme1")
test "$out" = "4 lines" || { echo "unexpected output: $out"; exit 1; }
echo "ok: README asyncify program ran: $out"

echo "# installed: meson install --destdir"
meson install -C "$BUILD" --no-rebuild --quiet --destdir "$TMP/root" >/dev/null
pc=$(dirname "$(find "$TMP/root" -name syncify-glib-1.pc | head -1)")
test -n "$pc"
test -f "$(find "$TMP/root" -path '*/include/syncify-glib-1/syncify-glib/syncify-glib.h' | head -1)"
# Relocate the installed .pc into the staging root (as a packager's sysroot would).
mkdir -p "$TMP/pc"
sed "s|^prefix=\(.*\)|prefix=$TMP/root\1|" "$pc/syncify-glib-1.pc" > "$TMP/pc/syncify-glib-1.pc"
pc=$TMP/pc
flags=$(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs syncify-glib-1)
$CC -Wall -Werror -o "$TMP/readme1-installed" "$TMP/readme1.c" $flags
libdir=$(PKG_CONFIG_PATH="$pc" pkg-config --variable=libdir syncify-glib-1)
out=$(LD_LIBRARY_PATH="$libdir" "$TMP/readme1-installed")
test "$out" = "4 lines" || { echo "unexpected output: $out"; exit 1; }
echo "ok: installed build ran: $out"

# Only the main header may be included directly.
printf '#include <syncify-glib/syncify-context.h>\nint main (void) { return 0; }\n' > "$TMP/direct.c"
if $CC -c -o "$TMP/direct.o" "$TMP/direct.c" $flags 2>"$TMP/direct.err"; then
  echo "including syncify-context.h directly compiled; the guard is missing"; exit 1
fi
grep -q "Only <syncify-glib/syncify-glib.h> can be included directly" "$TMP/direct.err"
echo "ok: the single-include guard works"
