/* syncify-await.c: one asynchronous implementation, blocking and
 * asynchronous callers
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-call-private.h"
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

/**
 * syncify_await_full_async: (skip)
 * @context: the context to run the operation on
 * @source_object: (type GObject) (nullable): the source object of the
 *   result handed to @callback, as for the `_async` function being written
 * @source_tag: (nullable): the source tag of that result, usually the
 *   `_async` function itself, for [method@Gio.AsyncResult.is_tagged]
 * @start: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   starts the operation, like an `_async` GIO call
 * @finish: (scope notified) (closure user_data) (nullable): completes it on
 *   the owner of @context, like a callback calling `_finish`; %NULL to hand out
 *   the operation's own [iface@Gio.AsyncResult] instead
 * @user_data: data for @start and @finish
 * @user_data_destroy: (nullable): frees @user_data, on the owner of @context
 *   right after @finish (see [method@Syncify.Context.call_async])
 * @result_destroy: (nullable): frees a result of @finish nobody claimed;
 *   must be %NULL when @finish is %NULL (the [iface@Gio.AsyncResult] is
 *   then released with [method@GObject.Object.unref])
 * @cancellable: (nullable): a [class@Gio.Cancellable] to cancel the operation
 * @callback: (scope async) (closure callback_data): called in the calling
 *   thread's thread-default main context when the operation is done
 * @callback_data: data for @callback
 *
 * Runs an asynchronous operation on the owner of @context as
 * [method@Syncify.Context.call_async] does, and completes a
 * [class@Gio.Task] of your own making: its source object is
 * @source_object and its source tag @source_tag. This is all the `.aio()`
 * form of a blocking helper needs, with no task of its own:
 *
 * |[<!-- language="C" -->
 * void
 * my_client_ping_async (MyClient *self, const char *name, GCancellable *cancellable,
 *                       GAsyncReadyCallback callback, gpointer user_data)
 * {
 *   PingArgs *args = ping_args_new (self, name);
 *
 *   syncify_await_full_async (self->context, self, my_client_ping_async,
 *                                     ping_start, ping_finish, args, ping_args_free,
 *                                     g_free, cancellable, callback, user_data);
 * }
 *
 * char *
 * my_client_ping_finish (MyClient *self, GAsyncResult *result, GError **error)
 * {
 *   g_return_val_if_fail (g_task_is_valid (result, self), NULL);
 *   g_return_val_if_fail (g_async_result_is_tagged (result, my_client_ping_async), NULL);
 *
 *   return syncify_await_full_finish (result, error);
 * }
 * ]|
 *
 * The result handed to @callback is a [class@Gio.Task] for which
 * `g_task_is_valid (result, source_object)` holds; get its value with
 * [func@Syncify.await_full_finish] (or [method@Gio.Task.propagate_pointer]).
 * The task holds a reference on @source_object and on @context until it is
 * finalized. Cancellation is as for [method@Syncify.Context.call_async]:
 * the operation is cancelled, or, if it has not started, the call
 * completes with %G_IO_ERROR_CANCELLED without starting it. Like every
 * [class@Gio.Task], the result is %G_IO_ERROR_CANCELLED if @cancellable
 * fired before it was returned; the value is then freed with
 * @result_destroy. @user_data_destroy and @result_destroy each run at most
 * once per value, where its ownership ends.
 *
 * Since: 1.0
 */
void
syncify_await_full_async (SyncifyContext      *context,
                          gpointer             source_object,
                          gpointer             source_tag,
                          SyncifyStartFunc     start,
                          SyncifyFinishFunc    finish,
                          gpointer             user_data,
                          GDestroyNotify       user_data_destroy,
                          GDestroyNotify       result_destroy,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             callback_data)
{
  g_return_if_fail (SYNCIFY_IS_CONTEXT (context));
  g_return_if_fail (source_object == NULL || G_IS_OBJECT (source_object));
  g_return_if_fail (start != NULL);
  g_return_if_fail (finish != NULL || result_destroy == NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  if (finish == NULL)
    {
      finish = await_finish;
      result_destroy = g_object_unref;
    }
  syncify_call_async_internal (context, source_object, source_tag, start, finish,
                               user_data, user_data_destroy, result_destroy,
                               cancellable, callback, callback_data);
}

/**
 * syncify_await_full_finish: (skip)
 * @result: the [iface@Gio.AsyncResult] given to the callback of
 *   [func@Syncify.await_full_async]
 * @error: return location for a [struct@GLib.Error]
 *
 * Gets the result of an operation run by
 * [func@Syncify.await_full_async]: what its finish function
 * returned or, if it was %NULL, the operation's own
 * [iface@Gio.AsyncResult], to pass to its `_finish` function. Call it from
 * the `_finish` function of your own `_async` function, after checking the
 * result with [func@Gio.Task.is_valid] and
 * [method@Gio.AsyncResult.is_tagged].
 *
 * Returns: (transfer full) (nullable): the result; %NULL with @error unset
 *   is a valid success
 *
 * Since: 1.0
 */
gpointer
syncify_await_full_finish (GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
