/* syncify-await.c: one asynchronous implementation, blocking and
 * asynchronous callers
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-private.h"

static gpointer
await_finish (GObject       *source_object,
              GAsyncResult  *result,
              gpointer       user_data,
              GError       **error)
{
  return g_object_ref (result);
}

/**
 * syncify_context_await: (skip)
 * @self: (nullable): the context to run the operation on, or %NULL for the
 *   calling worker's context
 * @flags: %SYNCIFY_FLAGS_NONE or %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT
 * @start: (scope call) (closure user_data): starts the operation, like an
 *   `_async` GIO call
 * @user_data: data for @start
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @start
 * @error: return location for a [struct@GLib.Error]
 *
 * Runs an asynchronous operation exactly as [method@Syncify.Context.syncify]
 * does (pushed to the owner of @self, or in the calling thread's private
 * context), and returns its [iface@Gio.AsyncResult] for the caller to pass to
 * the operation's `_finish` function on its own thread.
 *
 * This makes a blocking form of any `_async`/`_finish` pair in a few lines:
 * see [func@Syncify.DEFINE_START_FUNC]. The `_finish` functions of GIO and
 * of [class@Gio.Task]-based operations may be called from any thread; use
 * [method@Syncify.Context.syncify] with a [callback@Syncify.FinishFunc] for
 * one that must run on the owner.
 *
 * @error is only set for what kept the operation from completing: the
 * errors of [method@Syncify.Context.syncify], and %G_IO_ERROR_CANCELLED if
 * @cancellable fired before @start ran. The operation's own errors come from
 * its `_finish` function.
 *
 * Returns: (transfer full) (nullable): the result of the operation, or
 *   %NULL with @error set
 *
 * Language bindings use [method@Syncify.Context.await_operation] instead.
 *
 * Since: 1.0
 */
GAsyncResult *
syncify_context_await (SyncifyContext  *self,
                       SyncifyFlags     flags,
                       SyncifyStartFunc start,
                       gpointer         user_data,
                       GCancellable    *cancellable,
                       GError         **error)
{
  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (start != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_syncify (self, flags, start, await_finish, user_data,
                                  cancellable, error);
}

/**
 * syncify_context_await_async: (skip)
 * @self: the context to run the operation on
 * @start: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   starts the operation, like an `_async` GIO call
 * @user_data: data for @start
 * @user_data_destroy: (nullable): frees @user_data, on the owner of @self
 *   once the operation completed (see [method@Syncify.Context.call_async])
 * @cancellable: (nullable): a [class@Gio.Cancellable] to cancel the operation
 * @callback: (scope async) (closure callback_data): called in the calling
 *   thread's thread-default main context when the operation is done
 * @callback_data: data for @callback
 *
 * Runs an asynchronous operation on the owner of @self, as
 * [method@Syncify.Context.call_async] does, and hands its
 * [iface@Gio.AsyncResult] to the caller through
 * [method@Syncify.Context.await_finish]: the `.aio()` counterpart of
 * [method@Syncify.Context.await].
 *
 * Language bindings use [method@Syncify.Context.await_operation_async] instead.
 *
 * Since: 1.0
 */
void
syncify_context_await_async (SyncifyContext      *self,
                             SyncifyStartFunc     start,
                             gpointer             user_data,
                             GDestroyNotify       user_data_destroy,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             callback_data)
{
  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (start != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  syncify_context_call_async (self, start, await_finish, user_data, user_data_destroy,
                              g_object_unref, cancellable, callback, callback_data);
}

/**
 * syncify_context_await_finish: (skip)
 * @self: a `SyncifyContext`
 * @result: the [iface@Gio.AsyncResult] given to the callback of
 *   [method@Syncify.Context.await_async]
 * @error: return location for a [struct@GLib.Error]
 *
 * Gets the result of the operation run by
 * [method@Syncify.Context.await_async], to pass to its `_finish` function.
 *
 * Returns: (transfer full) (nullable): the operation's own
 *   [iface@Gio.AsyncResult], or %NULL with @error set if it could not run
 *
 * Language bindings use [method@Syncify.Context.await_operation_finish] instead.
 *
 * Since: 1.0
 */
GAsyncResult *
syncify_context_await_finish (SyncifyContext  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_call_finish (self, result, error);
}
