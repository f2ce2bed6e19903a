#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-layers.py SRCDIR: the library's files call each other one way only.
#
# For each .c file in SRCDIR (syncify-glib/), finds the functions it defines
# and the syncify_* functions it calls; file A depends on file B when A calls
# a function defined in B. Fails if the dependencies have a cycle, or if a
# .c file is longer than the limit; prints the files in layer order (each
# one after everything it calls), which doc/threading.md shows as a map.

import os
import re
import sys

LINE_LIMIT = 750

DEFINITION = re.compile(r'^(syncify_[a-z0-9_]+) \(', re.M)
USE = re.compile(r'\b(syncify_[a-z0-9_]+)\s*\(')
COMMENT = re.compile(r'/\*.*?\*/', re.S)


def main():
    srcdir = sys.argv[1]
    files = sorted(f for f in os.listdir(srcdir) if f.endswith('.c'))
    texts = {}
    defined_in = {}
    problems = []

    for name in files:
        with open(os.path.join(srcdir, name), encoding='utf-8') as fh:
            text = fh.read()
        n_lines = text.count('\n')
        if n_lines > LINE_LIMIT:
            problems.append('%s has %d lines (limit %d)' % (name, n_lines, LINE_LIMIT))
        text = COMMENT.sub('', text)
        texts[name] = text
        for symbol in DEFINITION.findall(text):
            defined_in[symbol] = name

    deps = {name: set() for name in files}
    for name, text in texts.items():
        for symbol in USE.findall(text):
            owner = defined_in.get(symbol)
            if owner is not None and owner != name:
                deps[name].add(owner)
        # _() is syncify_gettext() (syncify-i18n-private.h).
        if re.search(r'\b_\(', text) and name != 'syncify-i18n.c':
            deps[name].add('syncify-i18n.c')

    # Depth-first search for a cycle; emit files after their dependencies.
    order, state = [], {}

    def visit(name, path):
        if state.get(name) == 'done':
            return
        if state.get(name) == 'active':
            cycle = path[path.index(name):] + [name]
            problems.append('cycle: ' + ' -> '.join(cycle))
            return
        state[name] = 'active'
        for dep in sorted(deps[name]):
            visit(dep, path + [name])
        state[name] = 'done'
        order.append(name)

    for name in files:
        visit(name, [])

    for name in order:
        below = ', '.join(sorted(deps[name])) or '(nothing of the library)'
        print('%-28s calls %s' % (name, below))

    if problems:
        for p in problems:
            print('FAIL: ' + p)
        return 1
    print('OK: %d files, no cycle, none over %d lines' % (len(files), LINE_LIMIT))
    return 0


if __name__ == '__main__':
    sys.exit(main())
