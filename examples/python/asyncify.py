#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# asyncify.py: the seed's async program in Python. A main loop asyncifies the
# blocking do_sync_work(), which itself needs an async operation: its syncify
# pushes that operation back to the main loop.
#
#     async def main():
#         message = await asyncify(do_sync_work)(name="World")
#         print(message)
#
#     anyio.run(main)
#
# Expected: do_sync_work() on a worker thread, do_async_work() on the main
# thread (the main loop ran it), the message printed by a callback on the
# main thread.

import sys
import threading

import do_sync_work as seed
from do_sync_work import GLib, Syncify


def main():
    print('async program: a main loop asyncifies do_sync_work()')
    loop = GLib.MainLoop()
    status = []

    def worker(cancellable, data):            # runs in a worker thread
        return GLib.Variant('s', seed.do_sync_work('World'))

    def ready(context, result, *data):         # runs on the main loop
        try:
            message = context.asyncify_variant_finish(result).unpack()
        except GLib.Error as e:
            print('failed: %s' % e.message, file=sys.stderr)
            status.append(1)
        else:
            print('  the callback gets "%s" on %s' % (message, seed.describe_thread()))
            print(message)
            # The main loop ran the async part: that is what "pushed" means.
            ok = (message == 'Hello, World' and seed.last_async_thread == seed.MAIN_THREAD
                  and threading.get_ident() == seed.MAIN_THREAD)
            status.append(0 if ok else 1)
        loop.quit()

    Syncify.Context.get_default().asyncify_variant(Syncify.Flags.NONE, worker,
                                                   cancellable=None, callback=ready)
    loop.run()
    return status[0]


if __name__ == '__main__':
    sys.exit(main())
