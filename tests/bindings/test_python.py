#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test_python.py: syncify-glib from Python (PyGObject 3.42) through GObject
# Introspection, with real GIO operations. Run by `meson test` through the TAP
# runner beside it, with GI_TYPELIB_PATH and LD_LIBRARY_PATH set to the build
# tree.
#
# What PyGObject 3.42 does with the bindable API (checked here):
# - The Syncify callbacks (VariantFunc, OperationStartFunc) always get the
#   user_data argument, None when the caller passed none: def work(cancellable,
#   data), def start(op, cancellable, data). A GAsyncReadyCallback gets its
#   callback_data only when one was passed: def done(source, result, *data).
#   A callback with a parameter too few raises TypeError when called (and an
#   operation whose start function raised is never completed: see
#   TestStartFunctionFailure).
# - A Python callback run on a thread Python did not create (a worker, a
#   background context's thread) takes the GIL itself; PyGObject releases the
#   GIL around every C call, so a Python thread blocked in invoke_variant() or
#   await_operation() does not stop the callbacks it waits for.
# - A VariantFunc that raises GLib.Error fails the call with that error; any
#   other exception is printed to stderr and the call returns None.
# - The instance is not nullable from Python: where C passes NULL for "the
#   calling worker's context", Python passes Syncify.Context.get_current().
# - User data: PyGObject 3.42 treats every callback user_data of a call whose
#   last Python argument is a user_data (the `_async`-style entry points, which
#   end with callback and callback_data) as a tuple of arguments: pass
#   `(7,)`, or none, and prefer binding values with a lambda or closure. In
#   the blocking entry points (invoke_*, await_operation, await_checked) it
#   is a plain value. A bare value where a tuple is expected gives
#   "expected tuple for callback user_data": with the checked forms the
#   call then fails with an error (TestChecked); with asyncify_variant it
#   returns None.
# - The checked forms (invoke_checked, asyncify_checked, invoke_object,
#   await_checked, await_checked_async) take functions returning a boolean
#   (and, for the variant and object ones, the value: `return True, value`).
#   A function that raises makes PyGObject return False: the call fails with
#   the GLib.Error raised, or G_IO_ERROR_FAILED for any other exception.

import contextlib
import faulthandler
import io
import os
import subprocess
import sys
import tempfile
import threading
import unittest

import taptestrunner

try:
    import gi
    gi.require_version('GLib', '2.0')
    gi.require_version('Gio', '2.0')
    gi.require_version('Syncify', '1')
    from gi.repository import GLib, Gio, Syncify
except (ImportError, ValueError) as e:
    taptestrunner.skip_all('PyGObject or the Syncify typelib is not available: %s' % e)

SCALE = float(os.environ.get('SYNCIFY_TEST_TIMEOUT_SCALE', '1') or '1')
TIMEOUT = 30 * SCALE          # seconds, for any single wait
MAIN = threading.get_ident()  # the main thread: it runs the main loops
TEXT = 'Hello from a file\n'
ALLOW_PRIVATE = Syncify.Flags.ALLOW_PRIVATE_CONTEXT


def is_error(error, domain, code):
    return isinstance(error, GLib.Error) and error.matches(domain, code)


class SyncifyTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory(prefix='syncify-python-')
        cls.path = os.path.join(cls.tmpdir.name, 'hello.txt')
        with open(cls.path, 'w') as f:
            f.write(TEXT)

    @classmethod
    def tearDownClass(cls):
        cls.tmpdir.cleanup()

    def setUp(self):
        # The watchdog for waits that cannot take a timeout (a blocking call
        # that hangs): dump every thread's stack and fail the whole run.
        faulthandler.dump_traceback_later(3 * TIMEOUT, exit=True)
        self.file = Gio.File.new_for_path(self.path)
        self.default = Syncify.Context.get_default()

    def tearDown(self):
        faulthandler.cancel_dump_traceback_later()

    def run_loop(self, done, timeout=TIMEOUT):
        """Runs a main loop on the default context until done() is true,
        bounded by a watchdog."""
        loop = GLib.MainLoop()
        timed_out = []

        def check():
            if done():
                loop.quit()
                return GLib.SOURCE_REMOVE
            return GLib.SOURCE_CONTINUE

        def watchdog():
            timed_out.append(True)
            loop.quit()
            return GLib.SOURCE_REMOVE

        if done():
            return
        check_id = GLib.timeout_add(5, check)
        watchdog_id = GLib.timeout_add(int(timeout * 1000), watchdog)
        loop.run()
        # Whichever of the two did not end the loop is still attached.
        GLib.source_remove(check_id if timed_out else watchdog_id)
        self.assertFalse(timed_out, 'timed out waiting in the main loop')

    def start_thread(self, target, name):
        """Starts a Python thread that records its exception, if any."""
        failures = []

        def run():
            try:
                target()
            except BaseException as e:  # reported by join_thread()
                failures.append(e)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.failures = failures
        thread.start()
        return thread

    def join_thread(self, thread):
        thread.join(TIMEOUT)
        self.assertFalse(thread.is_alive(), 'thread %s did not finish' % thread.name)
        if thread.failures:
            raise thread.failures[0]

    def load_start(self, seen):
        """A start function (OperationStartFunc) that loads self.file and
        records where it ran."""
        def start(operation, cancellable, data):
            seen['start_thread'] = threading.get_ident()
            seen['start_context'] = GLib.MainContext.get_thread_default()
            self.assertFalse(operation.is_completed())
            self.file.load_contents_async(cancellable, operation.complete)
        return start

    def check_loaded(self, result):
        self.assertIsInstance(result, Gio.AsyncResult)
        ok, contents, _etag = self.file.load_contents_finish(result)
        self.assertTrue(ok)
        self.assertEqual(contents.decode(), TEXT)


class TestAsyncify(SyncifyTestCase):
    def test_python_callable_in_worker_result_on_main_loop(self):
        seen = {}

        def work(cancellable, data):
            seen['work_thread'] = threading.get_ident()
            seen['current'] = Syncify.Context.get_current()
            seen['cancellable'] = cancellable
            # Blocking GIO, as a worker may do.
            ok, contents, _etag = self.file.load_contents(cancellable)
            return GLib.Variant('(si)', (contents.decode(), len(contents)))

        def done(source, result, *data):
            seen['done_thread'] = threading.get_ident()
            seen['done_on_loop'] = GLib.MainContext.default().is_owner()
            seen['value'] = source.asyncify_variant_finish(result)

        self.default.asyncify_variant(Syncify.Flags.NONE, work, cancellable=None, callback=done)
        self.assertNotIn('value', seen, 'the callback ran before the main loop did')
        self.run_loop(lambda: 'value' in seen)

        self.assertNotEqual(seen['work_thread'], MAIN, 'the callable did not run in a worker')
        self.assertEqual(seen['current'], self.default)
        self.assertIsInstance(seen['cancellable'], Gio.Cancellable)
        self.assertEqual(seen['done_thread'], MAIN)
        self.assertTrue(seen['done_on_loop'])
        value = seen['value']
        self.assertIsInstance(value, GLib.Variant)
        self.assertEqual(value.get_type_string(), '(si)')
        self.assertEqual(value.unpack(), (TEXT, len(TEXT)))

    def test_worker_syncifies_back_to_main_loop(self):
        # The seed's async program: the worker's blocking code needs an async
        # GIO call, and its syncify pushes that call to the main loop.
        seen = {}
        start = self.load_start(seen)

        def work(cancellable, data):
            seen['work_thread'] = threading.get_ident()
            context = Syncify.Context.get_current()
            result = context.await_operation(Syncify.Flags.NONE, start, cancellable=None)
            # The _finish call runs here, on the worker.
            ok, contents, _etag = self.file.load_contents_finish(result)
            return GLib.Variant('s', contents.decode())

        def done(source, result, *data):
            seen['value'] = source.asyncify_variant_finish(result).unpack()

        self.default.asyncify_variant(Syncify.Flags.NONE, work, callback=done)
        self.run_loop(lambda: 'value' in seen)

        self.assertNotEqual(seen['work_thread'], MAIN)
        self.assertEqual(seen['start_thread'], MAIN, 'start did not run on the main loop')
        self.assertIsNone(seen['start_context'], 'start ran outside the default context')
        self.assertEqual(seen['value'], TEXT)

    def test_glib_error_from_python_callable(self):
        errors = []

        def work(cancellable, data):
            raise GLib.Error.new_literal(Gio.io_error_quark(), 'no such thing',
                                         Gio.IOErrorEnum.NOT_FOUND)

        def done(source, result, *data):
            try:
                source.asyncify_variant_finish(result)
                errors.append(None)
            except GLib.Error as e:
                errors.append(e)

        self.default.asyncify_variant(Syncify.Flags.NONE, work, callback=done)
        self.run_loop(lambda: errors)
        self.assertTrue(is_error(errors[0], Gio.io_error_quark(), Gio.IOErrorEnum.NOT_FOUND),
                        errors[0])
        self.assertEqual(errors[0].message, 'no such thing')

    def test_python_exception_gives_none(self):
        results = []

        def work(cancellable, data):
            raise ValueError('not a GLib.Error')

        def done(source, result, *data):
            results.append(source.asyncify_variant_finish(result))

        saved = sys.stderr
        sys.stderr = captured = io.StringIO()
        try:
            self.default.asyncify_variant(Syncify.Flags.NONE, work, callback=done)
            self.run_loop(lambda: results)
        finally:
            sys.stderr = saved
        self.assertEqual(results, [None])
        self.assertIn('ValueError: not a GLib.Error', captured.getvalue())


class TestSyncifyFromThread(SyncifyTestCase):
    def test_python_thread_awaits_gio_on_main_loop(self):
        seen = {}
        start = self.load_start(seen)
        threads = []

        def worker():
            seen['caller'] = threading.get_ident()
            result = self.default.await_operation(Syncify.Flags.NONE, start, cancellable=None)
            seen['finish_thread'] = threading.get_ident()
            ok, contents, _etag = self.file.load_contents_finish(result)
            seen['contents'] = contents.decode()

        def spawn():
            # From inside the running loop: the default context is owned.
            threads.append(self.start_thread(worker, 'py-syncify'))
            return GLib.SOURCE_REMOVE

        GLib.idle_add(spawn)
        self.run_loop(lambda: threads and not threads[0].is_alive())
        self.join_thread(threads[0])

        self.assertNotEqual(seen['caller'], MAIN)
        self.assertEqual(seen['start_thread'], MAIN, 'start did not run on the main loop')
        self.assertEqual(seen['finish_thread'], seen['caller'])
        self.assertEqual(seen['contents'], TEXT)


class TestPrivatePath(SyncifyTestCase):
    def test_plain_sync_code(self):
        seen = {}
        start = self.load_start(seen)
        default_ran = []
        idle = GLib.idle_add(lambda: default_ran.append(True))

        result = self.default.await_operation(ALLOW_PRIVATE, start)
        self.check_loaded(result)
        self.assertEqual(seen['start_thread'], MAIN)
        private = seen['start_context']
        self.assertIsNotNone(private, 'start ran without a private thread-default context')
        self.assertNotEqual(private, GLib.MainContext.default())
        self.assertIsNone(GLib.MainContext.get_thread_default(), 'the private context stayed pushed')
        self.assertEqual(default_ran, [], 'the private path iterated the default context')

        # Called again (in a loop, in sync code): the same private context.
        for _ in range(3):
            self.check_loaded(self.default.await_operation(ALLOW_PRIVATE, start))
            self.assertEqual(seen['start_context'], private)
        GLib.source_remove(idle)

    def test_nested(self):
        seen = {}
        inner = self.load_start(seen)
        outer_result = []

        def outer(operation, cancellable, data):
            # A blocking call inside an operation's start: nested private path.
            self.check_loaded(self.default.await_operation(ALLOW_PRIVATE, inner))
            outer_result.append(True)
            self.file.load_contents_async(cancellable, operation.complete)

        self.check_loaded(self.default.await_operation(ALLOW_PRIVATE, outer))
        self.assertEqual(outer_result, [True])

    def test_nested_with_closure(self):
        # The GClosure form (for GJS): a Python callable works, without the
        # trailing data argument, also nested and with a cancellable.
        cancellable = Gio.Cancellable()
        given = []

        def inner(operation, c):
            given.append(c)
            self.file.load_contents_async(c, operation.complete)

        def outer(operation, c):
            self.check_loaded(self.default.await_operation_with_closure(
                ALLOW_PRIVATE, inner, cancellable))
            self.file.load_contents_async(c, operation.complete)

        self.check_loaded(self.default.await_operation_with_closure(ALLOW_PRIVATE, outer, None))
        self.assertEqual(given, [cancellable])

    def test_not_in_worker(self):
        started = []
        with self.assertRaises(GLib.Error) as caught:
            self.default.await_operation(Syncify.Flags.NONE,
                                         lambda op, c, d: started.append(op))
        e = caught.exception
        self.assertTrue(e.matches(Syncify.error_quark(), Syncify.Error.NOT_IN_WORKER), e)
        self.assertEqual(e.domain, GLib.quark_to_string(Syncify.error_quark()))
        self.assertEqual(e.code, int(Syncify.Error.NOT_IN_WORKER))
        self.assertEqual(started, [], 'start ran although the call failed')

    def test_invoke_variant_inline(self):
        # Nobody runs the default context: invoke_variant runs the function
        # right here, as g_main_context_invoke() does.
        seen = []
        value = self.default.invoke_variant(
            lambda c, d: seen.append(threading.get_ident()) or GLib.Variant('u', 7))
        self.assertEqual(value.unpack(), 7)
        self.assertEqual(seen, [MAIN])


class TestBackground(SyncifyTestCase):
    def setUp(self):
        super().setUp()
        self.bg = Syncify.Context.new_thread('py-bg')
        self.assertEqual(self.bg.get_name(), 'py-bg')

    def tearDown(self):
        self.bg.shutdown()
        self.assertTrue(self.bg.is_closed())
        super().tearDown()

    def on_bg(self):
        return self.bg.get_main_context().is_owner()

    def test_invoke_variant_from_threads(self):
        ran = []
        lock = threading.Lock()

        def call(tag):
            def func(cancellable, data):
                with lock:
                    ran.append((threading.get_ident(), self.on_bg(),
                                GLib.MainContext.get_thread_default() == self.bg.get_main_context()))
                return GLib.Variant('s', tag)
            self.assertEqual(self.bg.invoke_variant(func).unpack(), tag)

        call('main')
        threads = [self.start_thread(lambda i=i: call('thread %d' % i), 'py-caller-%d' % i)
                   for i in range(3)]
        for thread in threads:
            self.join_thread(thread)

        self.assertEqual(len(ran), 4)
        bg_threads = {r[0] for r in ran}
        self.assertEqual(len(bg_threads), 1, 'the functions ran on more than one thread')
        self.assertNotIn(MAIN, bg_threads)
        self.assertNotIn(threads[0].ident, bg_threads)
        self.assertTrue(all(r[1] and r[2] for r in ran), 'a function ran outside the bg loop')

    def test_await_operation_sync_from_thread(self):
        seen = {}
        start = self.load_start(seen)

        def worker():
            seen['caller'] = threading.get_ident()
            result = self.bg.await_operation(Syncify.Flags.NONE, start)
            seen['finish_thread'] = threading.get_ident()
            self.check_loaded(result)

        thread = self.start_thread(worker, 'py-bg-caller')
        self.join_thread(thread)
        self.assertNotIn(seen['start_thread'], (MAIN, seen['caller']))
        self.assertEqual(seen['start_context'], self.bg.get_main_context())
        self.assertEqual(seen['finish_thread'], seen['caller'])

        # And from the main thread, which runs no loop at all.
        self.check_loaded(self.bg.await_operation(Syncify.Flags.NONE, start))
        self.assertEqual(seen['start_context'], self.bg.get_main_context())

    def test_await_operation_async_from_main_loop(self):
        seen = {}
        start = self.load_start(seen)

        def done(source, result, *data):
            seen['done_thread'] = threading.get_ident()
            seen['done_on_loop'] = GLib.MainContext.default().is_owner()
            seen['result'] = source.await_operation_finish(result)

        self.bg.await_operation_async(start, cancellable=None, callback=done)
        self.run_loop(lambda: 'result' in seen)
        self.assertEqual(seen['done_thread'], MAIN)
        self.assertTrue(seen['done_on_loop'])
        self.assertNotEqual(seen['start_thread'], MAIN)
        self.assertEqual(seen['start_context'], self.bg.get_main_context())
        self.check_loaded(seen['result'])

    def test_closed(self):
        self.bg.shutdown()
        with self.assertRaises(GLib.Error) as caught:
            self.bg.invoke_variant(lambda c, d: GLib.Variant('b', True))
        self.assertTrue(caught.exception.matches(Syncify.error_quark(), Syncify.Error.CLOSED))

        errors = []

        def done(source, result, *data):
            try:
                source.await_operation_finish(result)
                errors.append(None)
            except GLib.Error as e:
                errors.append(e)

        self.bg.await_operation_async(lambda op, c, d: self.fail('started on a closed context'),
                                      callback=done)
        self.run_loop(lambda: errors)
        self.assertTrue(is_error(errors[0], Syncify.error_quark(), Syncify.Error.CLOSED), errors[0])

    def test_would_deadlock(self):
        # The main loop calls into bg and waits; the function on bg calls back
        # into the main loop's context: reported, not hung.
        seen = {}

        def on_bg(cancellable, data):
            try:
                self.default.invoke_variant(lambda c, d: GLib.Variant('b', True))
                seen['error'] = None
            except GLib.Error as e:
                seen['error'] = e
            return GLib.Variant('b', False)

        def from_loop():
            seen['value'] = self.bg.invoke_variant(on_bg).unpack()
            return GLib.SOURCE_REMOVE

        GLib.idle_add(from_loop)
        self.run_loop(lambda: 'value' in seen)
        self.assertFalse(seen['value'])
        self.assertTrue(is_error(seen['error'], Syncify.error_quark(),
                                 Syncify.Error.WOULD_DEADLOCK), seen['error'])


class TestCancellation(SyncifyTestCase):
    def pipe_stream(self):
        """A pollable stream that never has data: its reads stay pending
        until cancelled."""
        read_fd, write_fd = os.pipe()
        self.addCleanup(os.close, write_fd)
        return Gio.UnixInputStream.new(read_fd, True)

    def read_start(self, stream, seen):
        def start(operation, cancellable, data):
            seen['start_thread'] = threading.get_ident()
            seen['start_cancellable'] = cancellable
            stream.read_bytes_async(16, GLib.PRIORITY_DEFAULT, cancellable, operation.complete)
        return start

    def assert_cancelled(self, stream, result):
        with self.assertRaises(GLib.Error) as caught:
            stream.read_bytes_finish(result)
        self.assertTrue(caught.exception.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED),
                        caught.exception)

    def test_cancel_pending_private(self):
        stream = self.pipe_stream()
        cancellable = Gio.Cancellable()
        seen = {}
        read = self.read_start(stream, seen)

        def start(operation, c, data):
            read(operation, c, data)
            # Fires while the caller iterates the private context.
            source = GLib.timeout_source_new(20)
            source.set_callback(lambda *args: cancellable.cancel() or GLib.SOURCE_REMOVE)
            source.attach(GLib.MainContext.get_thread_default())

        result = self.default.await_operation(ALLOW_PRIVATE, start, cancellable=cancellable)
        self.assertTrue(cancellable.is_cancelled())
        self.assert_cancelled(stream, result)

    def test_cancelled_before_start(self):
        cancellable = Gio.Cancellable()
        cancellable.cancel()
        started = []
        with self.assertRaises(GLib.Error) as caught:
            self.default.await_operation(ALLOW_PRIVATE, lambda op, c, d: started.append(op),
                                         cancellable=cancellable)
        self.assertTrue(caught.exception.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED))
        self.assertEqual(started, [])

    def test_cancel_pending_on_background(self):
        # Cancelling an await_operation_async() whose operation is pending on
        # a background context: the operation is cancelled there, and (as for
        # any GTask-based _finish with a cancelled cancellable) the
        # await_operation_finish() call itself reports G_IO_ERROR_CANCELLED.
        bg = Syncify.Context.new_thread('py-bg-cancel')
        self.addCleanup(bg.shutdown)
        stream = self.pipe_stream()
        cancellable = Gio.Cancellable()
        seen = {}

        def done(source, result, *data):
            seen['done_thread'] = threading.get_ident()
            try:
                seen['result'] = source.await_operation_finish(result)
            except GLib.Error as e:
                seen['result'] = e

        bg.await_operation_async(self.read_start(stream, seen), cancellable=cancellable,
                                 callback=done)
        self.run_loop(lambda: 'start_thread' in seen)
        self.assertNotIn('result', seen)
        self.assertNotEqual(seen['start_thread'], MAIN)
        cancellable.cancel()
        self.run_loop(lambda: 'result' in seen)
        self.assertEqual(seen['done_thread'], MAIN)
        self.assertTrue(is_error(seen['result'], Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED),
                        seen['result'])
        # The read on bg was cancelled too: the stream is free again.
        self.run_loop(lambda: not stream.has_pending())

    def test_cancel_worker_cancels_its_syncify(self):
        # Cancelling an asyncify job cancels the operation its worker is
        # waiting on (pushed to the main loop).
        stream = self.pipe_stream()
        cancellable = Gio.Cancellable()
        seen = {}
        read = self.read_start(stream, seen)

        def work(c, data):
            result = Syncify.Context.get_current().await_operation(Syncify.Flags.NONE, read)
            try:
                stream.read_bytes_finish(result)
                seen['inner'] = 'read something'
            except GLib.Error as e:
                seen['inner'] = e
            return GLib.Variant('s', 'done')

        def done(source, result, *data):
            try:
                seen['value'] = source.asyncify_variant_finish(result)
            except GLib.Error as e:
                seen['value'] = e

        self.default.asyncify_variant(Syncify.Flags.NONE, work, cancellable=cancellable,
                                      callback=done)
        self.run_loop(lambda: 'start_thread' in seen)
        self.assertEqual(seen['start_thread'], MAIN)
        cancellable.cancel()
        self.run_loop(lambda: 'value' in seen)
        self.assertTrue(is_error(seen['inner'], Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED),
                        seen['inner'])
        # GTask semantics: a job whose cancellable fired reports the cancel.
        self.assertTrue(is_error(seen['value'], Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED),
                        seen['value'])

    def test_abandon_on_cancel(self):
        release = threading.Event()
        cancellable = Gio.Cancellable()
        seen = {}

        def work(c, data):
            seen['working'] = True
            self.assertTrue(release.wait(TIMEOUT), 'the worker was never released')
            seen['worker_done'] = True
            return GLib.Variant('s', 'too late')

        def done(source, result, *data):
            try:
                seen['value'] = source.asyncify_variant_finish(result)
            except GLib.Error as e:
                seen['error'] = e

        self.default.asyncify_variant(Syncify.Flags.ABANDON_ON_CANCEL, work,
                                      cancellable=cancellable, callback=done)
        self.run_loop(lambda: 'working' in seen)
        cancellable.cancel()
        try:
            self.run_loop(lambda: 'error' in seen or 'value' in seen)
            self.assertNotIn('worker_done', seen, 'the job waited for its worker')
        finally:
            release.set()
        self.assertTrue(is_error(seen.get('error'), Gio.io_error_quark(),
                                 Gio.IOErrorEnum.CANCELLED), seen)
        # The late result is dropped, not delivered.
        self.run_loop(lambda: 'worker_done' in seen)
        self.assertNotIn('value', seen)


class TestGIL(SyncifyTestCase):
    N_THREADS = 4
    N_CALLS = 1000   # in all: half invoke_variant on bg, half asyncify_variant

    def test_python_callbacks_from_many_threads(self):
        bg = Syncify.Context.new_thread('py-gil')
        self.addCleanup(bg.shutdown)
        per_thread = self.N_CALLS // self.N_THREADS // 2
        lock = threading.Lock()
        delivered = []
        bad = []

        def invoked(cancellable, data):
            return GLib.Variant('(ti)', (threading.get_ident(), data or 0))

        def work(cancellable, data):
            # Some real work with the GIL held: build and parse a list. The
            # worker is named by its thread's name, not its ident: the caller
            # may have ended by now, and a new thread may reuse its ident.
            numbers = [int(str(n)) for n in range(50)]
            return GLib.Variant('(sai)', (threading.current_thread().name, numbers))

        def make_done(expected_caller):
            def done(source, result, *data):
                value = source.asyncify_variant_finish(result).unpack()
                with lock:
                    if (threading.get_ident() != MAIN
                            or value[0] in (threading.main_thread().name, expected_caller)
                            or value[1] != list(range(50))):
                        bad.append(('asyncify', value[0], threading.get_ident()))
                    delivered.append(value)
            return done

        def caller():
            me = threading.get_ident()
            for i in range(per_thread):
                value = bg.invoke_variant(invoked, i).unpack()
                if value[0] in (me, MAIN) or value[1] != i:
                    with lock:
                        bad.append(('invoke', value, me))
                # The callback comes back to the main loop (this thread has
                # no thread-default context).
                self.default.asyncify_variant(Syncify.Flags.NONE, work,
                                              callback=make_done(threading.current_thread().name))

        threads = []

        def spawn():
            threads.extend(self.start_thread(caller, 'py-gil-%d' % i)
                           for i in range(self.N_THREADS))
            return GLib.SOURCE_REMOVE

        GLib.idle_add(spawn)
        total_async = per_thread * self.N_THREADS
        self.run_loop(lambda: len(delivered) == total_async
                      and threads and not any(t.is_alive() for t in threads),
                      timeout=4 * TIMEOUT)
        for thread in threads:
            self.join_thread(thread)
        self.assertEqual(bad, [])
        self.assertEqual(len(delivered), total_async)


class TestStartFunctionFailure(SyncifyTestCase):
    # A start function that raises (here: the two-parameter lambda of the
    # await_operation documentation, which PyGObject calls with three
    # arguments) never completes its operation. The contract says a waiter
    # never blocks forever: the call should fail. Run in a child process,
    # since today it hangs.
    CHILD = '''
import gi
gi.require_version('Syncify', '1')
from gi.repository import GLib, Gio, Syncify
file = Gio.File.new_for_path(%r)
context = Syncify.Context.get_default()
try:
    context.await_operation(Syncify.Flags.ALLOW_PRIVATE_CONTEXT,
                            lambda op, c: file.load_contents_async(c, op.complete),
                            None)
    print('returned')
except GLib.Error as e:
    print('error', e.message)
'''

    def test_start_function_raises(self):
        try:
            child = subprocess.run([sys.executable, '-c', self.CHILD % self.path],
                                   capture_output=True, text=True, timeout=5 * SCALE)
        except subprocess.TimeoutExpired as e:
            stderr = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or '')
            hung = 'await_operation() hung after its start function raised; stderr:\n' + stderr
        else:
            hung = None
        if hung:
            self.fail(hung)
        self.assertIn('TypeError', child.stderr)
        self.assertTrue(child.stdout.startswith('error'), child.stdout)


class TestChecked(SyncifyTestCase):
    """The checked entry points: an exception in a Python function reaches
    the caller as an error, promptly, whatever PyGObject does with the
    function's frames (it keeps them in sys.last_traceback)."""

    def failed(self, e):
        return is_error(e, Gio.io_error_quark(), Gio.IOErrorEnum.FAILED)

    def test_invoke_checked(self):
        bg = Syncify.Context.new_thread('py-checked')
        self.addCleanup(bg.shutdown)

        def work(cancellable, data):
            return True, GLib.Variant('(ti)', (threading.get_ident(), data))

        value = bg.invoke_checked(work, 21).unpack()
        self.assertNotEqual(value[0], MAIN)
        self.assertEqual(value[1], 21)
        self.assertIsNone(bg.invoke_checked(lambda c, d: (True, None), None))

        def raises(cancellable, data):
            raise ValueError('not a GLib.Error')

        def raises_gerror(cancellable, data):
            raise GLib.Error.new_literal(Gio.io_error_quark(), 'no such thing',
                                         Gio.IOErrorEnum.NOT_FOUND)

        saved = sys.stderr
        sys.stderr = captured = io.StringIO()
        try:
            with self.assertRaises(GLib.Error) as cm:
                bg.invoke_checked(raises, None)
        finally:
            sys.stderr = saved
        self.assertTrue(self.failed(cm.exception), cm.exception)
        self.assertIn('ValueError', captured.getvalue())
        with self.assertRaises(GLib.Error) as cm:
            bg.invoke_checked(raises_gerror, None)
        self.assertTrue(is_error(cm.exception, Gio.io_error_quark(), Gio.IOErrorEnum.NOT_FOUND))

    def test_asyncify_checked(self):
        outcomes = []

        def done(source, result, *data):
            try:
                outcomes.append(('ok', source.asyncify_checked_finish(result), data))
            except GLib.Error as e:
                outcomes.append(('error', e, data))

        def work(cancellable, data):
            return True, GLib.Variant('i', data * 2)

        def raises(cancellable, data):
            raise RuntimeError('in a worker')

        saved = sys.stderr
        sys.stderr = io.StringIO()
        try:
            # The user data convention of _async-style calls: a tuple.
            self.default.asyncify_checked(Syncify.Flags.NONE, work, (21,), None, done, 'x')
            self.default.asyncify_checked(Syncify.Flags.NONE, raises, None, None, done)
            # A bare value: PyGObject refuses it, the job fails (never a silent None).
            self.default.asyncify_checked(Syncify.Flags.NONE, work, 7, None, done)
            self.run_loop(lambda: len(outcomes) == 3)
        finally:
            sys.stderr = saved
        oks = [o for o in outcomes if o[0] == 'ok']
        errors = [o for o in outcomes if o[0] == 'error']
        self.assertEqual(len(oks), 1, outcomes)
        self.assertEqual(oks[0][1].unpack(), 42)
        self.assertEqual(oks[0][2], ('x',))
        self.assertEqual(len(errors), 2, outcomes)
        for e in errors:
            self.assertTrue(self.failed(e[1]), e[1])

    def test_invoke_object_and_dispose(self):
        bg = Syncify.Context.new_thread('py-objects')
        made_on = []

        def make(cancellable, data):
            made_on.append(threading.get_ident())
            return True, Gio.SocketClient()

        client = bg.invoke_object(make, None)
        self.assertIsInstance(client, Gio.SocketClient)
        self.assertNotEqual(made_on[0], MAIN)
        with self.assertRaises(GLib.Error):
            with contextlib.redirect_stderr(io.StringIO()):
                bg.invoke_object(lambda c, d: 1 / 0, None)
        self.assertTrue(bg.dispose_object(client))
        bg.shutdown()
        with self.assertRaises(GLib.Error) as cm:
            bg.dispose_object(client)
        self.assertTrue(is_error(cm.exception, Syncify.error_quark(), Syncify.Error.CLOSED))

    def raising_start(self, exception, start_call=True):
        kept = []

        def start(operation, cancellable, data):
            kept.append(operation)
            if start_call:
                self.file.load_contents_async(cancellable, operation.complete)
            raise exception
        return start

    def test_start_raises_private(self):
        saved = sys.stderr
        sys.stderr = io.StringIO()
        try:
            for exception in (ValueError('start failed'),
                              GLib.Error.new_literal(Gio.io_error_quark(), 'no such thing',
                                                     Gio.IOErrorEnum.NOT_FOUND)):
                with self.assertRaises(GLib.Error) as cm:
                    self.default.await_checked(ALLOW_PRIVATE, self.raising_start(exception), None)
                if isinstance(exception, GLib.Error):
                    self.assertTrue(is_error(cm.exception, Gio.io_error_quark(),
                                             Gio.IOErrorEnum.NOT_FOUND), cm.exception)
                else:
                    self.assertTrue(self.failed(cm.exception), cm.exception)
        finally:
            sys.stderr = saved
        # The next call on this thread works (and drops the abandoned results).
        result = self.default.await_checked(
            ALLOW_PRIVATE, lambda op, c, d: self.file.load_contents_async(c, op.complete) or True,
            None)
        self.check_loaded(result)

    def test_start_raises_on_background(self):
        bg = Syncify.Context.new_thread('py-start')
        self.addCleanup(bg.shutdown)
        saved = sys.stderr
        sys.stderr = io.StringIO()
        try:
            with self.assertRaises(GLib.Error) as cm:
                bg.await_checked(Syncify.Flags.NONE, self.raising_start(KeyError('k')), None)
        finally:
            sys.stderr = saved
        self.assertTrue(self.failed(cm.exception), cm.exception)

        outcomes = []

        def done(source, result, *data):
            try:
                outcomes.append(source.await_checked_finish(result))
            except GLib.Error as e:
                outcomes.append(e)

        sys.stderr = io.StringIO()
        try:
            bg.await_checked_async(self.raising_start(ValueError('v'), start_call=False),
                                   None, None, done)
            self.run_loop(lambda: outcomes)
        finally:
            sys.stderr = saved
        self.assertTrue(self.failed(outcomes[0]), outcomes[0])

    def test_old_form_start_raises_cancel_ends_it(self):
        # await_operation (the unchecked form): the raising start function's
        # operation is kept alive by the traceback; cancelling ends the call.
        cancellable = Gio.Cancellable()

        def start(operation, cancellable_, data):
            here = GLib.MainContext.get_thread_default()
            source = GLib.idle_source_new()
            source.set_callback(lambda *a: cancellable.cancel() or GLib.SOURCE_REMOVE)
            source.attach(here)
            raise ValueError('start failed, operation kept by the traceback')

        saved = sys.stderr
        sys.stderr = io.StringIO()
        try:
            with self.assertRaises(GLib.Error) as cm:
                self.default.await_operation(ALLOW_PRIVATE, start, None, cancellable)
        finally:
            sys.stderr = saved
        self.assertTrue(is_error(cm.exception, Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED),
                        cm.exception)


class TestIterator(SyncifyTestCase):
    """Syncify.Iterator from Python: new_checked() and next_object()."""

    def make_dir(self, n):
        path = tempfile.mkdtemp(dir=self.tmpdir.name)
        for i in range(n):
            with open(os.path.join(path, 'f%02d' % i), 'w') as f:
                f.write('x')
        return path

    def test_iterate_on_background(self):
        bg = Syncify.Context.new_thread('py-iter')
        self.addCleanup(bg.shutdown)
        path = self.make_dir(5)
        state = {'threads': set()}

        def next_item(cancellable, data):
            state['threads'].add(threading.get_ident())
            if 'enumerator' not in state:
                state['enumerator'] = Gio.File.new_for_path(data).enumerate_children(
                    'standard::name', Gio.FileQueryInfoFlags.NONE, cancellable)
            return True, state['enumerator'].next_file(cancellable)

        it = Syncify.Iterator.new_checked(bg, next_item, path)
        self.assertIs(it.get_context(), bg)
        names = []
        while True:
            info = it.next_object(None)
            if info is None:
                break
            self.assertIsInstance(info, Gio.FileInfo)
            names.append(info.get_name())
        self.assertEqual(sorted(names), ['f%02d' % i for i in range(5)])
        self.assertTrue(it.is_done())
        self.assertIsNone(it.next_object(None))
        self.assertNotIn(MAIN, state['threads'])
        self.assertEqual(len(state['threads']), 1)
        it.close()
        bg.invoke_checked(lambda c, d: (state.pop('enumerator').close(None), None), None)

    def test_error_then_retry_and_inline(self):
        # No context outside a worker: the function runs on this thread.
        items = [Gio.SimpleAction.new('a', None), None]
        calls = []

        def next_item(cancellable, data):
            calls.append(threading.get_ident())
            if len(calls) == 1:
                raise GLib.Error.new_literal(Gio.io_error_quark(), 'not yet',
                                             Gio.IOErrorEnum.BUSY)
            return True, items.pop(0)

        it = Syncify.Iterator.new_checked(None, next_item, None)
        with self.assertRaises(GLib.Error) as cm:
            it.next_object(None)
        self.assertTrue(is_error(cm.exception, Gio.io_error_quark(), Gio.IOErrorEnum.BUSY))
        self.assertFalse(it.is_done())
        self.assertEqual(it.next_object(None).get_name(), 'a')
        self.assertIsNone(it.next_object(None))
        self.assertTrue(it.is_done())
        self.assertEqual(calls, [MAIN] * 3)

    def test_no_source_is_an_error(self):
        with self.assertRaises(GLib.Error) as cm:
            Syncify.Iterator().next_object(None)
        self.assertTrue(is_error(cm.exception, Gio.io_error_quark(),
                                 Gio.IOErrorEnum.NOT_INITIALIZED), cm.exception)
        self.assertFalse(hasattr(Syncify.Iterator, 'next'))


class TestTeardown(SyncifyTestCase):
    def test_teardown_object_disposed_on_background(self):
        bg = Syncify.Context.new_thread('py-teardown')
        disposed_on = []

        def make(cancellable, data):
            return True, Gio.SimpleAction.new('loop-bound', None)

        action = bg.invoke_object(make, None)
        # A GObject weak reference is notified when the object is disposed.
        action.weak_ref(lambda *args: disposed_on.append(threading.get_ident()))
        self.assertTrue(bg.add_teardown_object(action))
        self.assertEqual(disposed_on, [])
        bg.shutdown()
        self.assertEqual(len(disposed_on), 1)
        self.assertNotEqual(disposed_on[0], MAIN)
        self.assertFalse(bg.add_teardown_object(Gio.SimpleAction.new('late', None)))
        del action


if __name__ == '__main__':
    taptestrunner.main()
