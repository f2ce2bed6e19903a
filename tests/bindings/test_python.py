#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test_python.py: syncify-glib from Python (PyGObject 3.42) through GObject
# Introspection, with real GIO operations. Run by `meson test` through the TAP
# runner beside it, with GI_TYPELIB_PATH and LD_LIBRARY_PATH set to the build
# tree.
#
# The tests import Syncify with its PyGObject override (gi.overrides.Syncify,
# from syncify-glib/python on PYTHONPATH), as an installed library is used,
# and reach the raw typelib through RawSyncify where they test what the
# override smooths over. With the override (tested in TestConventions):
# every function gets its user data as its last argument (None when none
# was given), in the blocking and the asynchronous entry points alike; the
# callback of an asynchronous one gets (source, result, *callback_data); an
# exception in any function fails the call with a GLib.Error (the one
# raised, or G_IO_ERROR_FAILED naming the exception).
#
# What PyGObject 3.42 (and 3.50) does with the raw typelib (checked here):
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
#   other exception is printed to stderr and the function returns None
#   without an error, which the library reports as G_IO_ERROR_FAILED.
# - A start function (OperationStartFunc) that raises GLib.Error fails the
#   call at once; any other exception is printed, and the operation stays
#   alive in the traceback's frames: only a cancellable ends that call.
# - The instance is not nullable from Python: where C passes NULL for "the
#   calling worker's context", Python passes Syncify.Context.get_current().
# - User data: PyGObject 3.42 treats every callback user_data of a call whose
#   last Python argument is a user_data (the `_async`-style entry points, which
#   end with callback and callback_data) as a tuple of arguments: pass
#   `(7,)`, or none, and prefer binding values with a lambda or closure. In
#   the blocking entry points (invoke_*, await_operation, await_checked) it
#   is a plain value. A bare value where a tuple is expected gives
#   "expected tuple for callback user_data" (PyGObject decides per call, not
#   per callback, that user data is a tuple of arguments once the call's
#   last argument is a callback's data): the function is never run, and the
#   call fails with an error (the checked forms: the False return; the
#   variant forms: None without an error is an error).
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
    from gi.module import get_introspection_module
    RawSyncify = get_introspection_module('Syncify')
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

    def test_python_exception_is_an_error_raw(self):
        # Through the raw typelib (no gi.overrides.Syncify): PyGObject prints
        # an exception other than GLib.Error and returns None without an
        # error; the library reports that as an error, never as a success.
        raw = RawSyncify.Context.get_default()
        results = []

        def work(cancellable, data):
            raise ValueError('not a GLib.Error')

        def done(source, result, *data):
            try:
                results.append(source.asyncify_variant_finish(result))
            except GLib.Error as e:
                results.append(e)

        with contextlib.redirect_stderr(io.StringIO()) as captured:
            RawSyncify.Context.asyncify_variant(raw, Syncify.Flags.NONE, work, (None,), None, done)
            self.run_loop(lambda: results)
        self.assertTrue(is_error(results[0], Gio.io_error_quark(), Gio.IOErrorEnum.FAILED),
                        results[0])
        self.assertIn('no value and no error', results[0].message)
        self.assertIn('ValueError: not a GLib.Error', captured.getvalue())

    def test_python_exception_is_an_error(self):
        # With the override: the exception's type and message, quietly.
        results = []

        def done(source, result, *data):
            try:
                results.append(source.asyncify_variant_finish(result))
            except GLib.Error as e:
                results.append(e)

        self.default.asyncify_variant(Syncify.Flags.NONE, lambda c, d: 1 / 0, callback=done)
        self.run_loop(lambda: results)
        self.assertTrue(is_error(results[0], Gio.io_error_quark(), Gio.IOErrorEnum.FAILED),
                        results[0])
        self.assertIn('ZeroDivisionError: division by zero', results[0].message)


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
    # A start function that raises, called without a cancellable: the call
    # must fail, never hang. Run in child processes (killed if they hang):
    # - a lambda with a parameter too few (the function is never entered);
    # - a function whose body raises, which leaves its operation in the
    #   traceback's frames (sys.last_traceback, with the raw typelib): the
    #   case that hung.
    CHILD = '''
import gi
gi.require_version('Syncify', '1')
from gi.repository import GLib, Gio, Syncify
file = Gio.File.new_for_path(%r)
context = Syncify.Context.get_default()
def body_raises(op, c, data):
    file.load_contents_async(c, op.complete)
    raise ValueError('start failed')
for name, start in [('lambda', lambda op, c: file.load_contents_async(c, op.complete)),
                    ('body', body_raises)]:
    try:
        context.await_operation(Syncify.Flags.ALLOW_PRIVATE_CONTEXT, start, None)
        print(name, 'returned')
    except GLib.Error as e:
        print(name, 'error', e.message)
'''

    def test_start_function_raises(self):
        try:
            child = subprocess.run([sys.executable, '-c', self.CHILD % self.path],
                                   capture_output=True, text=True, timeout=5 * SCALE)
        except subprocess.TimeoutExpired as e:
            stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or '')
            stderr = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or '')
            hung = ('await_operation() hung after its start function raised; stdout:\n%s\n'
                    'stderr:\n%s' % (stdout, stderr))
        else:
            hung = None
        if hung:
            self.fail(hung)
        lines = child.stdout.splitlines()
        self.assertEqual(len(lines), 2, child.stdout + child.stderr)
        self.assertTrue(lines[0].startswith('lambda error TypeError'), lines[0])
        self.assertTrue(lines[1].startswith('body error ValueError: start failed'), lines[1])


class TestConventions(SyncifyTestCase):
    '''One user data convention for every entry point (with the override):
    the function gets the user data as its last argument, None when none
    was given; keyword and positional forms; the callback of the
    asynchronous ones gets (source, result, *callback_data).'''

    def setUp(self):
        super().setUp()
        self.bg = Syncify.Context.new_thread('py-conventions')

    def tearDown(self):
        self.bg.shutdown()
        super().tearDown()

    def value(self, cancellable, data):
        return GLib.Variant('s', repr(data))

    def checked_value(self, cancellable, data):
        return True, GLib.Variant('s', repr(data))

    def deliver(self, call, finish):
        '''Runs call(done) and the main loop until done was called; returns
        (value, callback data).'''
        out = []

        def done(source, result, *data):
            try:
                out.append((getattr(source, finish)(result), data))
            except GLib.Error as e:
                out.append((e, data))

        call(done)
        self.run_loop(lambda: out)
        return out[0]

    def test_blocking(self):
        for ctx in (self.default, self.bg):
            for method, func in (('invoke_variant', self.value),
                                 ('invoke_checked', self.checked_value)):
                invoke = getattr(ctx, method)
                self.assertEqual(invoke(func).unpack(), 'None', method)
                self.assertEqual(invoke(func, 7).unpack(), '7', method)
                self.assertEqual(invoke(func, (7,)).unpack(), '(7,)', method)
                self.assertEqual(invoke(func, 7, None).unpack(), '7', method)
                self.assertEqual(invoke(func, user_data=7).unpack(), '7', method)
                self.assertEqual(invoke(func, 7, cancellable=Gio.Cancellable()).unpack(), '7',
                                 method)
            obj = ctx.invoke_object(lambda c, d: (True, Gio.SimpleAction.new(d, None)), 'made')
            self.assertEqual(obj.get_name(), 'made')

    def test_await(self):
        def start(op, cancellable, data):
            self.file.load_contents_async(cancellable, op.complete)
            seen.append(data)

        def checked_start(op, cancellable, data):
            start(op, cancellable, data)
            return True

        for method, func in (('await_operation', start), ('await_checked', checked_start)):
            seen = []
            call = getattr(self.default, method)
            self.check_loaded(call(ALLOW_PRIVATE, func))
            self.check_loaded(call(ALLOW_PRIVATE, func, 7))
            self.check_loaded(call(ALLOW_PRIVATE, func, (7,), None))
            self.check_loaded(call(ALLOW_PRIVATE, func, user_data=7, cancellable=None))
            self.check_loaded(getattr(self.bg, method)(Syncify.Flags.NONE, func, 'bg'))
            self.assertEqual(seen, [None, 7, (7,), 7, 'bg'], method)
        self.check_loaded(self.default.await_operation_with_closure(
            ALLOW_PRIVATE, lambda op, c: self.file.load_contents_async(c, op.complete)))

    def test_asyncify(self):
        for method, func, finish in (('asyncify_variant', self.value, 'asyncify_variant_finish'),
                                     ('asyncify_checked', self.checked_value,
                                      'asyncify_checked_finish')):
            call = getattr(self.default, method)
            forms = [
                (lambda done: call(Syncify.Flags.NONE, func, callback=done), 'None', ()),
                (lambda done: call(Syncify.Flags.NONE, func, 7, callback=done), '7', ()),
                (lambda done: call(Syncify.Flags.NONE, func, (7,), None, done), '(7,)', ()),
                (lambda done: call(Syncify.Flags.NONE, func, 7, None, done), '7', ()),
                (lambda done: call(Syncify.Flags.NONE, func, 7, None, done, 'x', 2), '7',
                 ('x', 2)),
                (lambda done: call(Syncify.Flags.NONE, func, user_data=7, callback=done), '7', ()),
            ]
            for i, (form, value, data) in enumerate(forms):
                got, got_data = self.deliver(form, finish)
                self.assertIsInstance(got, GLib.Variant, (method, i, got))
                self.assertEqual(got.unpack(), value, (method, i))
                self.assertEqual(got_data, data, (method, i))

    def test_await_async(self):
        def start(op, cancellable, data):
            seen.append(data)
            self.file.load_contents_async(cancellable, op.complete)

        def checked_start(op, cancellable, data):
            start(op, cancellable, data)
            return True

        for method, func, finish in (('await_operation_async', start, 'await_operation_finish'),
                                     ('await_checked_async', checked_start,
                                      'await_checked_finish')):
            seen = []
            call = getattr(self.bg, method)
            forms = [
                (lambda done: call(func, callback=done), ()),
                (lambda done: call(func, 7, callback=done), ()),
                (lambda done: call(func, (7,), None, done), ()),
                (lambda done: call(func, 7, None, done, 'x'), ('x',)),
            ]
            for i, (form, data) in enumerate(forms):
                result, got_data = self.deliver(form, finish)
                self.check_loaded(result)
                self.assertEqual(got_data, data, (method, i))
            self.assertEqual(seen, [None, 7, (7,), 7], method)

    def test_iterator(self):
        items = [Gio.SimpleAction.new('a', None), None]
        seen = []

        def next_item(cancellable, data):
            seen.append(data)
            return True, items.pop(0)

        it = Syncify.Iterator.new_checked(self.bg, next_item, 7)
        self.assertEqual(it.next_object(None).get_name(), 'a')
        self.assertIsNone(it.next_object(None))
        self.assertEqual(seen, [7, 7])
        it2 = Syncify.Iterator.new_checked(None, lambda c, d: (True, None))
        self.assertIsNone(it2.next_object(None))
        it3 = Syncify.Iterator.new_checked(None, lambda c, d: {}['missing'])
        with self.assertRaises(GLib.Error) as cm:
            it3.next_object(None)
        self.assertIn("KeyError: 'missing'", cm.exception.message)

    def test_exceptions_reach_the_caller(self):
        '''Every entry point: an exception in the Python function comes back
        as a GLib.Error, never as a success.'''
        def boom(*args):
            raise KeyError('boom')

        calls = [
            ('invoke_variant', lambda: self.bg.invoke_variant(boom)),
            ('invoke_checked', lambda: self.bg.invoke_checked(boom, 1)),
            ('invoke_object', lambda: self.bg.invoke_object(boom)),
            ('await_operation', lambda: self.default.await_operation(ALLOW_PRIVATE, boom)),
            ('await_checked', lambda: self.bg.await_checked(Syncify.Flags.NONE, boom, 1)),
            ('await_operation_with_closure',
             lambda: self.default.await_operation_with_closure(ALLOW_PRIVATE, boom)),
        ]
        for name, call in calls:
            with self.assertRaises(GLib.Error, msg=name) as cm:
                call()
            self.assertIn("KeyError: 'boom'", cm.exception.message, name)
        for method, finish in (('asyncify_variant', 'asyncify_variant_finish'),
                               ('asyncify_checked', 'asyncify_checked_finish')):
            error, _ = self.deliver(
                lambda done: getattr(self.default, method)(Syncify.Flags.NONE, boom,
                                                           callback=done), finish)
            self.assertIsInstance(error, GLib.Error, method)
            self.assertIn("KeyError: 'boom'", error.message, method)
        for method, finish in (('await_operation_async', 'await_operation_finish'),
                               ('await_checked_async', 'await_checked_finish')):
            error, _ = self.deliver(
                lambda done: getattr(self.bg, method)(boom, callback=done), finish)
            self.assertIsInstance(error, GLib.Error, method)
            self.assertIn("KeyError: 'boom'", error.message, method)


class TestGILBound(SyncifyTestCase):
    '''Python jobs and the main loop: while a context's max-workers is 0,
    the binding entry points' jobs run under a bound of their own (the
    usable processors, at least 2), so that 200 short sleeping jobs leave
    the main loop the GIL; the property itself is left alone.'''
    N_JOBS = 200

    def test_bounded_and_all_complete(self):
        import time
        ctx = Syncify.Context.new(None)
        self.assertEqual(ctx.get_max_workers(), 0)
        lock = threading.Lock()
        state = {'running': 0, 'max': 0, 'done': 0, 'threads': set()}
        ticks = []

        def work(cancellable, data):
            with lock:
                state['running'] += 1
                state['max'] = max(state['max'], state['running'])
                # (Python 3.13 names a foreign thread anew on each call.)
                state['threads'].add(threading.get_ident())
            time.sleep(0.002)
            with lock:
                state['running'] -= 1
            return True, GLib.Variant('i', data)

        def done(source, result, *data):
            if source.asyncify_checked_finish(result).unpack() == data[0]:
                state['done'] += 1

        def tick():
            ticks.append(True)
            return GLib.SOURCE_CONTINUE

        timer = GLib.timeout_add(5, tick)
        started = time.monotonic()
        for i in range(self.N_JOBS):
            ctx.asyncify_checked(Syncify.Flags.NONE, work, i, None, done, i)
        self.assertEqual(ctx.get_max_workers(), 0)
        # The usable processors are at most those of the affinity mask.
        bound = max(2, len(os.sched_getaffinity(0)))
        self.run_loop(lambda: state['done'] == self.N_JOBS, timeout=4 * TIMEOUT)
        elapsed = time.monotonic() - started
        GLib.source_remove(timer)
        # Reported, not asserted (no wall-clock assertions).
        print('# GIL: %d jobs of 2 ms, bound <= %d: at most %d at once, on %d threads; '
              'the 5 ms timer ticked %d times in %.0f ms (%.0f expected)'
              % (self.N_JOBS, bound, state['max'], len(state['threads']), len(ticks),
                 elapsed * 1000, elapsed * 1000 / 5))
        self.assertLessEqual(state['max'], bound)
        self.assertEqual(state['done'], self.N_JOBS)


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

        with self.assertRaises(GLib.Error) as cm:
            bg.invoke_checked(raises, None)
        self.assertTrue(self.failed(cm.exception), cm.exception)
        self.assertIn('ValueError: not a GLib.Error', cm.exception.message)
        # The raw typelib: PyGObject prints the exception, the call fails.
        with contextlib.redirect_stderr(io.StringIO()) as captured:
            with self.assertRaises(GLib.Error) as cm:
                RawSyncify.Context.invoke_checked(bg, raises, None)
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

        self.default.asyncify_checked(Syncify.Flags.NONE, work, 21, None, done, 'x')
        self.run_loop(lambda: len(outcomes) == 1)
        self.default.asyncify_checked(Syncify.Flags.NONE, raises, None, None, done)
        self.run_loop(lambda: len(outcomes) == 2)
        self.assertEqual(outcomes[0][0], 'ok', outcomes)
        self.assertEqual(outcomes[0][1].unpack(), 42)
        self.assertEqual(outcomes[0][2], ('x',))
        self.assertEqual(outcomes[1][0], 'error', outcomes)
        self.assertTrue(self.failed(outcomes[1][1]), outcomes[1][1])
        self.assertIn('RuntimeError: in a worker', outcomes[1][1].message)

    def test_asyncify_checked_raw_user_data(self):
        # The raw typelib: the function's user data of a call ending with a
        # callback's data is a tuple of arguments; a bare value is refused
        # by PyGObject, and the job fails (never a silent None).
        outcomes = []

        def done(source, result, *data):
            try:
                outcomes.append(('ok', source.asyncify_checked_finish(result), data))
            except GLib.Error as e:
                outcomes.append(('error', e, data))

        def work(cancellable, data):
            return True, GLib.Variant('i', data * 2)

        raw = RawSyncify.Context.asyncify_checked
        with contextlib.redirect_stderr(io.StringIO()) as captured:
            raw(self.default, Syncify.Flags.NONE, work, (21,), None, done, 'x')
            self.run_loop(lambda: len(outcomes) == 1)
            raw(self.default, Syncify.Flags.NONE, work, 7, None, done)
            self.run_loop(lambda: len(outcomes) == 2)
        self.assertEqual(outcomes[0][0], 'ok', outcomes)
        self.assertEqual(outcomes[0][1].unpack(), 42)
        self.assertEqual(outcomes[0][2], ('x',))
        self.assertEqual(outcomes[1][0], 'error', outcomes)
        self.assertTrue(self.failed(outcomes[1][1]), outcomes[1][1])
        self.assertIn('expected tuple for callback user_data', captured.getvalue())

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
        with contextlib.redirect_stderr(io.StringIO()):
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
        # The next call on this thread works (and drops the abandoned results).
        result = self.default.await_checked(
            ALLOW_PRIVATE, lambda op, c, d: self.file.load_contents_async(c, op.complete) or True,
            None)
        self.check_loaded(result)

    def test_start_raises_on_background(self):
        bg = Syncify.Context.new_thread('py-start')
        self.addCleanup(bg.shutdown)
        with contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaises(GLib.Error) as cm:
                bg.await_checked(Syncify.Flags.NONE, self.raising_start(KeyError('k')), None)
        self.assertTrue(self.failed(cm.exception), cm.exception)

        outcomes = []

        def done(source, result, *data):
            try:
                outcomes.append(source.await_checked_finish(result))
            except GLib.Error as e:
                outcomes.append(e)

        with contextlib.redirect_stderr(io.StringIO()):
            bg.await_checked_async(self.raising_start(ValueError('v'), start_call=False),
                                   None, None, done)
            self.run_loop(lambda: outcomes)
        self.assertTrue(self.failed(outcomes[0]), outcomes[0])

    def test_old_form_start_raises_fails_at_once(self):
        # await_operation (the unchecked form) with the override: a start
        # function that raises fails the call at once, no cancellable needed.
        kept = []

        def start(operation, cancellable, data):
            kept.append(operation)
            raise ValueError('start failed')

        with self.assertRaises(GLib.Error) as cm:
            self.default.await_operation(ALLOW_PRIVATE, start)
        self.assertTrue(self.failed(cm.exception), cm.exception)
        self.assertIn('ValueError: start failed', cm.exception.message)
        self.assertTrue(kept[0].is_completed())

        # The raw typelib: a GLib.Error raised is the start function's error.
        def raw_start(operation, cancellable, data):
            kept.append(operation)
            raise GLib.Error.new_literal(Gio.io_error_quark(), 'no such thing',
                                         Gio.IOErrorEnum.NOT_FOUND)

        with self.assertRaises(GLib.Error) as cm:
            RawSyncify.Context.await_operation(self.default, ALLOW_PRIVATE, raw_start, None)
        self.assertTrue(is_error(cm.exception, Gio.io_error_quark(), Gio.IOErrorEnum.NOT_FOUND),
                        cm.exception)

    def test_old_form_start_raises_cancel_ends_it(self):
        # await_operation through the raw typelib: the start function's
        # exception (not a GLib.Error) is only printed, and its operation is
        # kept alive by the traceback; cancelling ends the call.
        cancellable = Gio.Cancellable()

        def start(operation, cancellable_, data):
            here = GLib.MainContext.get_thread_default()
            source = GLib.idle_source_new()
            source.set_callback(lambda *a: cancellable.cancel() or GLib.SOURCE_REMOVE)
            source.attach(here)
            raise ValueError('start failed, operation kept by the traceback')

        with contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaises(GLib.Error) as cm:
                RawSyncify.Context.await_operation(self.default, ALLOW_PRIVATE, start, None,
                                                   cancellable)
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
