# SPDX-License-Identifier: LGPL-2.1-or-later
#
# do_sync_work.py: the seed's do_sync_work() in Python, shared by asyncify.py
# (called from an asyncified worker) and syncify.py (called from plain code).
#
#     async def do_async_work(name: str):
#         await anyio.sleep(1)
#         return f"Hello, {name}"
#
#     def do_sync_work(name: str):
#         time.sleep(1)
#         message = syncify(do_async_work, raise_sync_error=False)(name=name)
#         return message

import threading
import time

import gi
gi.require_version('GLib', '2.0')
gi.require_version('Gio', '2.0')
gi.require_version('Syncify', '1')
from gi.repository import GLib, Gio, Syncify  # noqa: E402

MAIN_THREAD = threading.get_ident()
last_async_thread = None


def describe_thread():
    """"the main thread", or the name the kernel knows the thread by."""
    if threading.get_ident() == MAIN_THREAD:
        return 'the main thread'
    try:
        with open('/proc/self/task/%d/comm' % threading.get_native_id()) as f:
            return 'thread "%s"' % f.read().strip()
    except OSError:
        return 'thread %d' % threading.get_ident()


def do_async_work(name, cancellable, callback):
    """An asynchronous "sleep, then say hello": a Gio.Task completed by a
    timeout in the thread-default main context (the main loop's when pushed
    there, the private one in sync code)."""
    global last_async_thread
    last_async_thread = threading.get_ident()
    print('  do_async_work() starts on %s' % describe_thread())

    task = Gio.Task.new(None, cancellable, callback)

    def wake(*args):
        task.return_value('Hello, %s' % name)
        return GLib.SOURCE_REMOVE

    sleep = GLib.timeout_source_new(100)   # anyio.sleep()
    sleep.set_callback(wake)
    sleep.attach(GLib.MainContext.ref_thread_default())


def do_async_work_finish(result):
    ok, message = result.propagate_value()
    return message


def do_sync_work(name):
    """Blocking: works from a worker of a running main loop (the async part
    is pushed to that loop) and from plain code (it runs here, in this
    thread's private main context, reused by later calls)."""
    print('  do_sync_work() runs on %s' % describe_thread())
    time.sleep(0.1)   # some blocking work

    # The context of the worker we run in, if any; outside any worker, the
    # flag lets the operation run here in a private main context.
    context = Syncify.Context.get_current() or Syncify.Context.get_default()
    result = context.await_operation(
        Syncify.Flags.ALLOW_PRIVATE_CONTEXT,
        lambda operation, cancellable, data: do_async_work(name, cancellable, operation.complete))
    return do_async_work_finish(result)
