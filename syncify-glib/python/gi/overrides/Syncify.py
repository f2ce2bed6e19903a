# SPDX-License-Identifier: LGPL-2.1-or-later
#
# gi.overrides.Syncify: the Python face of the binding entry points, loaded
# by PyGObject with `from gi.repository import Syncify` when this file is in
# a gi/overrides directory on sys.path (installed beside the typelib).
#
# It gives every entry point one convention, whatever PyGObject's rules for
# a call with two callbacks:
#
# - user data: the function (or start function) gets `user_data` as its
#   last argument: the value given, or None. Through the raw typelib,
#   PyGObject (3.42 to 3.50 at least) wants the user data of every callback
#   of a call that ends with a callback's data as a tuple of arguments
#   (`asyncify_checked(flags, fn, (7,), None, done)`); here it is a plain
#   value, as for the blocking entry points. The callback of the
#   asynchronous ones gets its data as GIO's do: `done(source, result,
#   *callback_data)`.
# - exceptions: any exception raised by a function, a start function or an
#   iterator's next function fails the call with a GLib.Error: the one
#   raised, or G_IO_ERROR_FAILED with the exception's type and message. The
#   unchecked entry points (invoke_variant, asyncify_variant,
#   await_operation*) go through their checked forms to that end, so a
#   start function that raises never leaves its caller waiting, and a
#   function may return None for no value.

from ..module import get_introspection_module
from ..overrides import override
from gi.repository import GLib, Gio

Syncify = get_introspection_module('Syncify')

__all__ = []


def _error_from(exception):
    if isinstance(exception, GLib.Error):
        return exception
    return GLib.Error.new_literal(Gio.io_error_quark(),
                                  '%s: %s' % (type(exception).__name__, exception),
                                  Gio.IOErrorEnum.FAILED)


# Each wrapper ignores the user data PyGObject hands it (None, nothing, or
# the items of a tuple, depending on the call and the PyGObject version) and
# passes its own. An exception becomes a GLib.Error, which PyGObject turns
# into the function's error (and a False return) without keeping the frames.

def _value_func(func, user_data, checked):
    def wrapper(cancellable, *_ignored):
        try:
            value = func(cancellable, user_data)
        except Exception as e:
            raise _error_from(e) from None
        return value if checked else (True, value)
    return wrapper


def _start_func(start, user_data, checked):
    def wrapper(operation, cancellable, *_ignored):
        try:
            started = start(operation, cancellable, user_data)
        except Exception as e:
            raise _error_from(e) from None
        return started if checked else True
    return wrapper


def _closure_start_func(start):
    def wrapper(operation, cancellable, *_ignored):
        try:
            start(operation, cancellable)
        except Exception as e:
            raise _error_from(e) from None
        return True
    return wrapper


class Context(Syncify.Context):
    # Blocking entry points: (…, func, user_data=None, cancellable=None)

    def invoke_variant(self, func, user_data=None, cancellable=None):
        return super().invoke_checked(_value_func(func, user_data, False), None, cancellable)

    def invoke_checked(self, func, user_data=None, cancellable=None):
        return super().invoke_checked(_value_func(func, user_data, True), None, cancellable)

    def invoke_object(self, func, user_data=None, cancellable=None):
        return super().invoke_object(_value_func(func, user_data, True), None, cancellable)

    def await_operation(self, flags, start, user_data=None, cancellable=None):
        return super().await_checked(flags, _start_func(start, user_data, False), None,
                                     cancellable)

    def await_operation_with_closure(self, flags, start, cancellable=None):
        return super().await_checked(flags, _closure_start_func(start), None, cancellable)

    def await_checked(self, flags, start, user_data=None, cancellable=None):
        return super().await_checked(flags, _start_func(start, user_data, True), None,
                                     cancellable)

    # Asynchronous entry points: (…, func, user_data=None, cancellable=None,
    # callback=None, *callback_data). The function's user data is handed on
    # as an empty tuple: PyGObject passes it as is (a tuple of arguments)
    # in a call that ends with a callback's data. Whatever the call
    # returns is returned.

    def asyncify_variant(self, flags, func, user_data=None, cancellable=None, callback=None,
                         *callback_data):
        return super().asyncify_checked(flags, _value_func(func, user_data, False), (), cancellable,
                                 callback, *callback_data)

    def asyncify_checked(self, flags, func, user_data=None, cancellable=None, callback=None,
                         *callback_data):
        return super().asyncify_checked(flags, _value_func(func, user_data, True), (), cancellable,
                                 callback, *callback_data)

    def await_operation_async(self, start, user_data=None, cancellable=None, callback=None,
                              *callback_data):
        return super().await_checked_async(_start_func(start, user_data, False), (), cancellable,
                                    callback, *callback_data)

    def await_checked_async(self, start, user_data=None, cancellable=None, callback=None,
                            *callback_data):
        return super().await_checked_async(_start_func(start, user_data, True), (), cancellable,
                                    callback, *callback_data)


Context = override(Context)
__all__.append('Context')


class Iterator(Syncify.Iterator):
    @classmethod
    def new_checked(cls, context, next_func, user_data=None):
        # The raw constructor ends with the function's data, which
        # PyGObject takes as variable arguments: hand on none.
        return Syncify.Iterator.new_checked(context, _value_func(next_func, user_data, True))


Iterator = override(Iterator)
__all__.append('Iterator')
