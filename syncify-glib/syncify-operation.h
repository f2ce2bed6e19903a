/* syncify-operation.h: the entry points for language bindings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SYNCIFY_INSIDE) && !defined(SYNCIFY_COMPILATION)
# error "Only <syncify-glib/syncify-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include "syncify-context.h"
#include "syncify-types.h"
#include <syncify-glib/syncify-version.h>

G_BEGIN_DECLS

#define SYNCIFY_TYPE_OPERATION (syncify_operation_get_type ())

SYNCIFY_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (SyncifyOperation, syncify_operation, SYNCIFY, OPERATION, GObject)

/**
 * SyncifyOperationStartFunc:
 * @operation: the operation to complete: pass [method@Syncify.Operation.complete]
 *   as the callback of the asynchronous call
 * @cancellable: (nullable): a [class@Gio.Cancellable] to hand to the call
 * @user_data: (closure): the data passed with the function
 * @error: return location for a [struct@GLib.Error]
 *
 * Starts an asynchronous operation, like [callback@Syncify.StartFunc], in a
 * form language bindings can implement: instead of a C callback, it is given
 * an object whose [method@Syncify.Operation.complete] method is the callback.
 *
 * A function that could not start the call sets @error: the operation then
 * fails at once with it (a call it started anyway is abandoned, its late
 * result dropped). GJS sets @error from any exception the function throws,
 * PyGObject from a `GLib.Error` only; the `gi.overrides.Syncify` module
 * installed with the library makes PyGObject turn any exception into an
 * error (see [class@Syncify.Operation]). A function that returns without
 * setting @error and without completing its operation must have started a
 * call that completes it.
 *
 * In Python:
 *
 * |[
 * def start(operation, cancellable, data):
 *     file.load_contents_async(cancellable, operation.complete)
 * ]|
 *
 * In JavaScript:
 *
 * |[
 * const start = (operation, cancellable) =>
 *     file.load_contents_async(cancellable, (src, res) => operation.complete(src, res));
 * ]|
 *
 * Since: 1.0
 */
typedef void (*SyncifyOperationStartFunc) (SyncifyOperation  *operation,
                                           GCancellable      *cancellable,
                                           gpointer           user_data,
                                           GError           **error);

/**
 * SyncifyVariantFunc:
 * @cancellable: (nullable): a [class@Gio.Cancellable] the function should
 *   honour
 * @user_data: (closure): the data passed with the function
 * @error: return location for a [struct@GLib.Error]
 *
 * A blocking function whose result is a [struct@GLib.Variant]: the form of
 * [callback@Syncify.ThreadFunc] for language bindings.
 *
 * It must return a value: %NULL without an error is what a binding returns
 * for a function that raised (PyGObject, for an exception other than
 * `GLib.Error`) or that it refused to run (GJS, on another thread), so the
 * call fails with %G_IO_ERROR_FAILED. For "no value", return an empty tuple
 * (`GLib.Variant('()', ())`), or use a [callback@Syncify.CheckedVariantFunc].
 *
 * |[
 * def work(cancellable, data):
 *     return GLib.Variant('s', data)
 * ]|
 *
 * |[<!-- language="JavaScript" -->
 * const work = cancellable => new GLib.Variant('s', 'done');
 * ]|
 *
 * Returns: (transfer full) (nullable): the result, or %NULL with @error
 *   set; a floating reference is sunk
 *
 * Since: 1.0
 */
typedef GVariant *(*SyncifyVariantFunc) (GCancellable  *cancellable,
                                         gpointer       user_data,
                                         GError       **error);

/**
 * SyncifyCheckedStartFunc:
 * @operation: the operation to complete: pass [method@Syncify.Operation.complete]
 *   as the callback of the asynchronous call
 * @cancellable: (nullable): a [class@Gio.Cancellable] to hand to the call
 * @user_data: the data passed with the function
 * @error: return location for a [struct@GLib.Error]
 *
 * A [callback@Syncify.OperationStartFunc] that says whether it started the
 * call: the form to use from language bindings, where a function that
 * raises an exception may never give its operation back.
 *
 * Returning %FALSE ends the call at once with @error (or, when @error is
 * unset, with %G_IO_ERROR_FAILED). PyGObject and GJS return %FALSE for a
 * function that raises or throws, and set @error from a `GLib.Error` (GJS:
 * from any exception), whatever they then do with the function's frames,
 * so a failing start function always fails its caller promptly. A call the
 * function started before it failed is abandoned: its result is dropped
 * when it arrives. If the function completed the operation before
 * returning %FALSE, that result stands.
 *
 * In Python (a raised exception is a %FALSE return):
 *
 * |[
 * def start(operation, cancellable, data):
 *     file.load_contents_async(cancellable, operation.complete)
 *     return True
 * ]|
 *
 * In JavaScript:
 *
 * |[
 * const start = (operation, cancellable) => {
 *     file.load_contents_async(cancellable, (src, res) => operation.complete(src, res));
 *     return true;
 * };
 * ]|
 *
 * Returns: %TRUE if the call was started (or the operation completed),
 *   %FALSE with @error set if it failed
 *
 * Since: 1.0
 */
typedef gboolean (*SyncifyCheckedStartFunc) (SyncifyOperation  *operation,
                                             GCancellable      *cancellable,
                                             gpointer           user_data,
                                             GError           **error);

/**
 * SyncifyCheckedVariantFunc:
 * @cancellable: (nullable): a [class@Gio.Cancellable] the function should
 *   honour
 * @user_data: the data passed with the function
 * @result: (out) (transfer full) (optional) (nullable): return location for
 *   the result; a floating reference is sunk
 * @error: return location for a [struct@GLib.Error]
 *
 * A [callback@Syncify.VariantFunc] whose success is its boolean return: an
 * exception in a language binding (PyGObject and GJS return %FALSE for a
 * function that raises or throws) fails the call, never succeeds with no
 * value. In Python it returns a pair, in JavaScript an array:
 *
 * |[
 * def work(cancellable, data):
 *     return True, GLib.Variant('s', data)
 * ]|
 *
 * |[
 * const work = cancellable => [true, new GLib.Variant('s', 'done')];
 * ]|
 *
 * Returns: %TRUE on success (with *@result %NULL for no value), %FALSE on
 *   failure, with @error set if the function could say why
 *
 * Since: 1.0
 */
typedef gboolean (*SyncifyCheckedVariantFunc) (GCancellable  *cancellable,
                                               gpointer       user_data,
                                               GVariant     **result,
                                               GError       **error);

/**
 * SyncifyCheckedObjectFunc:
 * @cancellable: (nullable): a [class@Gio.Cancellable] the function should
 *   honour
 * @user_data: the data passed with the function
 * @result: (out) (transfer full) (optional) (nullable): return location for
 *   the object the function made or found
 * @error: return location for a [struct@GLib.Error]
 *
 * Like [callback@Syncify.CheckedVariantFunc], for a function whose result is
 * an object, such as a loop-bound object made on a background context and
 * handed out (see [method@Syncify.Context.invoke_object]).
 *
 * |[
 * def make_session(cancellable, data):
 *     return True, Soup.Session()
 * ]|
 *
 * Returns: %TRUE on success, %FALSE on failure, with @error set if the
 *   function could say why
 *
 * Since: 1.0
 */
typedef gboolean (*SyncifyCheckedObjectFunc) (GCancellable  *cancellable,
                                              gpointer       user_data,
                                              GObject      **result,
                                              GError       **error);

SYNCIFY_AVAILABLE_IN_1_0
void          syncify_operation_complete        (SyncifyOperation    *self,
                                                 GObject             *source_object,
                                                 GAsyncResult        *result);
SYNCIFY_AVAILABLE_IN_1_0
GCancellable *syncify_operation_get_cancellable (SyncifyOperation    *self);
SYNCIFY_AVAILABLE_IN_1_0
gboolean      syncify_operation_is_completed    (SyncifyOperation    *self);

SYNCIFY_AVAILABLE_IN_1_0
void          syncify_context_asyncify_variant        (SyncifyContext            *self,
                                                       SyncifyFlags               flags,
                                                       SyncifyVariantFunc         func,
                                                       gpointer                   user_data,
                                                       GDestroyNotify             user_data_destroy,
                                                       GCancellable              *cancellable,
                                                       GAsyncReadyCallback        callback,
                                                       gpointer                   callback_data);
SYNCIFY_AVAILABLE_IN_1_0
GVariant     *syncify_context_asyncify_variant_finish (SyncifyContext            *self,
                                                       GAsyncResult              *result,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
GVariant     *syncify_context_invoke_variant          (SyncifyContext            *self,
                                                       SyncifyVariantFunc         func,
                                                       gpointer                   user_data,
                                                       GCancellable              *cancellable,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
GAsyncResult *syncify_context_await_operation         (SyncifyContext            *self,
                                                       SyncifyFlags               flags,
                                                       SyncifyOperationStartFunc  start,
                                                       gpointer                   user_data,
                                                       GCancellable              *cancellable,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
GAsyncResult *syncify_context_await_operation_with_closure (SyncifyContext  *self,
                                                            SyncifyFlags     flags,
                                                            GClosure        *start,
                                                            GCancellable    *cancellable,
                                                            GError         **error);
SYNCIFY_AVAILABLE_IN_1_0
void          syncify_context_await_operation_async   (SyncifyContext            *self,
                                                       SyncifyOperationStartFunc  start,
                                                       gpointer                   user_data,
                                                       GDestroyNotify             user_data_destroy,
                                                       GCancellable              *cancellable,
                                                       GAsyncReadyCallback        callback,
                                                       gpointer                   callback_data);
SYNCIFY_AVAILABLE_IN_1_0
GAsyncResult *syncify_context_await_operation_finish  (SyncifyContext            *self,
                                                       GAsyncResult              *result,
                                                       GError                   **error);

SYNCIFY_AVAILABLE_IN_1_0
GVariant     *syncify_context_invoke_checked          (SyncifyContext            *self,
                                                       SyncifyCheckedVariantFunc  func,
                                                       gpointer                   user_data,
                                                       GCancellable              *cancellable,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
void          syncify_context_asyncify_checked        (SyncifyContext            *self,
                                                       SyncifyFlags               flags,
                                                       SyncifyCheckedVariantFunc  func,
                                                       gpointer                   user_data,
                                                       GCancellable              *cancellable,
                                                       GAsyncReadyCallback        callback,
                                                       gpointer                   callback_data);
SYNCIFY_AVAILABLE_IN_1_0
GVariant     *syncify_context_asyncify_checked_finish (SyncifyContext            *self,
                                                       GAsyncResult              *result,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
GObject      *syncify_context_invoke_object           (SyncifyContext            *self,
                                                       SyncifyCheckedObjectFunc   func,
                                                       gpointer                   user_data,
                                                       GCancellable              *cancellable,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
gboolean      syncify_context_dispose_object          (SyncifyContext            *self,
                                                       GObject                   *object,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
GAsyncResult *syncify_context_await_checked           (SyncifyContext            *self,
                                                       SyncifyFlags               flags,
                                                       SyncifyCheckedStartFunc    start,
                                                       gpointer                   user_data,
                                                       GCancellable              *cancellable,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
void          syncify_context_await_checked_async     (SyncifyContext            *self,
                                                       SyncifyCheckedStartFunc    start,
                                                       gpointer                   user_data,
                                                       GCancellable              *cancellable,
                                                       GAsyncReadyCallback        callback,
                                                       gpointer                   callback_data);
SYNCIFY_AVAILABLE_IN_1_0
GAsyncResult *syncify_context_await_checked_finish    (SyncifyContext            *self,
                                                       GAsyncResult              *result,
                                                       GError                   **error);

G_END_DECLS
