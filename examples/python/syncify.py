#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# syncify.py: the seed's sync program in Python. The same do_sync_work() as
# in asyncify.py, called from plain code with no main loop anywhere: its
# syncify runs the async part right here, in a private main context.
#
#     def sync_main():
#         message = do_sync_work(name="World")
#         print(message)
#
#     sync_main()
#
# Expected: everything on the main thread. Calling it again reuses the same
# private context. Then the three-line form for any Gio _async method.

import sys

import do_sync_work as seed
from do_sync_work import Gio, Syncify


def main():
    print('sync program: plain code calls do_sync_work(), no main loop')
    for name in ('World', 'again'):
        message = seed.do_sync_work(name)
        print(message)
        # The private path: the async part ran on this very thread.
        if message != 'Hello, %s' % name or seed.last_async_thread != seed.MAIN_THREAD:
            return 1

    # Any Gio _async method, called from sync code:
    file = Gio.File.new_for_path(__file__)
    def start(operation, cancellable, data): file.load_contents_async(cancellable, operation.complete)
    result = Syncify.Context.get_default().await_operation(Syncify.Flags.ALLOW_PRIVATE_CONTEXT, start)
    ok, contents, etag = file.load_contents_finish(result)
    print('read %d bytes of %s' % (len(contents), file.get_basename()))
    return 0 if ok and contents.startswith(b'#!/usr/bin/python3') else 1


if __name__ == '__main__':
    sys.exit(main())
