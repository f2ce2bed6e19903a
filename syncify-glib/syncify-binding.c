/* syncify-binding.c: the variant, checked and object entry points for
 * language bindings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-private.h"
#include "syncify-operation.h"
#include "syncify-asyncify-private.h"
#include "syncify-binding-private.h"
#include "syncify-thread-private.h"

gboolean
syncify_binding_checked (gboolean   ok,
                         GError    *local_error,
                         GError   **error)
{
  if (ok)
    {
      g_clear_error (&local_error);
      return TRUE;
    }
  if (local_error != NULL)
    g_propagate_error (error, local_error);
  else
    syncify_error_function_failed (error);
  return FALSE;
}

static void
checked_operation_start (gpointer             data,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             callback_data)
{
  SyncifyBindingWrap *w = data;
  SyncifyOperation *op = syncify_operation_new_for_call (cancellable, callback, callback_data);
  GError *local_error = NULL;
  gboolean ok;
  GError *error = NULL;

  ok = w->checked_start (op, cancellable, w->user_data, &local_error);
  if (!syncify_binding_checked (ok, local_error, &error))
    syncify_operation_answer_error (op, error);
  g_object_unref (op);
}

static gpointer
checked_variant_func (gpointer       data,
                      GCancellable  *cancellable,
                      GError       **error)
{
  SyncifyBindingWrap *w = data;
  GError *local_error = NULL;
  gboolean ok;
  GVariant *result = NULL;

  ok = w->checked_func (cancellable, w->user_data, &result, &local_error);
  if (!syncify_binding_checked (ok, local_error, error))
    {
      g_clear_pointer (&result, g_variant_unref);
      return NULL;
    }
  if (result != NULL)
    g_variant_take_ref (result);
  return result;
}


static gpointer
variant_func (gpointer       data,
              GCancellable  *cancellable,
              GError       **error)
{
  SyncifyBindingWrap *w = data;
  GError *local_error = NULL;
  GVariant *result = w->func (cancellable, w->user_data, &local_error);

  if (result != NULL)
    g_variant_take_ref (result);

  if (local_error != NULL)
    {
      g_clear_pointer (&result, g_variant_unref);
      g_propagate_error (error, local_error);
    }
  else if (result == NULL)
    {
      /* What a binding returns for a function that raised (PyGObject, for
       * an exception other than GLib.Error) or that it refused to run (GJS,
       * on another thread): never a silent success. */
      syncify_error_no_value (error);
    }

  return result;
}

/**
 * syncify_context_asyncify_variant:
 * @self: the context the worker belongs to
 * @flags: %SYNCIFY_FLAGS_NONE or %SYNCIFY_FLAGS_ABANDON_ON_CANCEL
 * @func: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   the blocking function to run in a worker thread
 * @user_data: data for @func
 * @user_data_destroy: (nullable): frees @user_data, in the caller's
 *   thread-default main context once @func is done with it
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @func
 * @callback: (scope async) (closure callback_data): called when the job is
 *   done
 * @callback_data: data for @callback
 *
 * [method@Syncify.Context.asyncify] for a function returning a
 * [struct@GLib.Variant]: the form for language bindings. Everything else is
 * the same: @func runs in a worker thread, @callback in the caller's
 * thread-default main context.
 *
 * A function that returns %NULL without setting an error fails the job
 * with %G_IO_ERROR_FAILED: that is what a binding returns for a function
 * that raised (PyGObject, for an exception other than `GLib.Error`) or that
 * it refused to run (GJS, in a worker thread), never a success. Return a
 * value for "nothing" (`GLib.Variant('()', ())`), or use
 * [method@Syncify.Context.asyncify_checked], the form to prefer.
 *
 * |[
 * def work(cancellable, n):
 *     return GLib.Variant('i', n * 2)
 *
 * def done(context, result, *callback_data):
 *     print(context.asyncify_variant_finish(result).unpack())
 *
 * context.asyncify_variant(Syncify.Flags.NONE, work, 21, None, done)
 * ]|
 *
 * JavaScript functions cannot run in a worker thread (see the "Language
 * bindings" page): from GJS the job fails, it never runs the function.
 *
 * |[<!-- language="JavaScript" -->
 * context.asyncify_variant(Syncify.Flags.NONE, () => new GLib.Variant('i', 42), null,
 *     (ctx, result) => ctx.asyncify_variant_finish(result));   // throws
 * ]|
 *
 * While the context's [property@Syncify.Context:max-workers] is 0, the jobs
 * of the binding entry points run under a bound of their own: the number of
 * processors the process may use (at least 2). A Python function holds the
 * GIL while it runs Python code, and the bound keeps the pool from adding
 * threads that only contend for it with the main loop. The property is left
 * alone, and the context's other jobs keep the pool's default; a bound you
 * set on the property applies to all of them. See "Python and the GIL" on
 * the asyncify page.
 *
 * Since: 1.0
 */
void
syncify_context_asyncify_variant (SyncifyContext      *self,
                                  SyncifyFlags         flags,
                                  SyncifyVariantFunc   func,
                                  gpointer             user_data,
                                  GDestroyNotify       user_data_destroy,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             callback_data)
{
  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (func != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  syncify_asyncify_for_binding (self, flags, variant_func,
                                syncify_binding_wrap_new (NULL, func, user_data, user_data_destroy),
                                syncify_binding_wrap_free,
                                (GDestroyNotify) g_variant_unref,
                                cancellable, callback, callback_data);
}

/**
 * syncify_context_asyncify_variant_finish:
 * @self: a `SyncifyContext`
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Gets the result of [method@Syncify.Context.asyncify_variant].
 *
 * Returns: (transfer full): what the function returned, or %NULL with
 *   @error set
 *
 * Since: 1.0
 */
GVariant *
syncify_context_asyncify_variant_finish (SyncifyContext  *self,
                                         GAsyncResult    *result,
                                         GError         **error)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_asyncify_finish (self, result, error);
}

/**
 * syncify_context_invoke_variant:
 * @self: (nullable): the context to run @func on, or %NULL for the calling
 *   worker's context
 * @func: (scope call) (closure user_data): the function to run
 * @user_data: data for @func
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @func
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Syncify.Context.invoke_sync] for a function returning a
 * [struct@GLib.Variant]: the form for language bindings.
 *
 * A function that returns %NULL without setting an error fails the call
 * with %G_IO_ERROR_FAILED (see [method@Syncify.Context.asyncify_variant]);
 * [method@Syncify.Context.invoke_checked] is the form to prefer.
 *
 * |[
 * value = context.invoke_variant(lambda cancellable, n: GLib.Variant('i', n * 2), 21)
 * ]|
 *
 * |[<!-- language="JavaScript" -->
 * const n = 21;
 * const value = context.invoke_variant(() => new GLib.Variant('i', n * 2), null);
 * ]|
 *
 * Returns: (transfer full): what @func returned, or %NULL with @error set
 *
 * Since: 1.0
 */
GVariant *
syncify_context_invoke_variant (SyncifyContext      *self,
                                SyncifyVariantFunc   func,
                                gpointer             user_data,
                                GCancellable        *cancellable,
                                GError             **error)
{
  SyncifyBindingWrap w = { .func = func, .user_data = user_data };

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_invoke_sync (self, variant_func, &w, cancellable, error);
}

/* ------------------------------------------------------------------------ *
 * Checked entry points: a function's failure is its boolean return
 * ------------------------------------------------------------------------ */

/**
 * syncify_context_invoke_checked:
 * @self: (nullable): the context to run @func on, or %NULL for the calling
 *   worker's context
 * @func: (scope call) (closure user_data): the function to run
 * @user_data: data for @func
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @func
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Syncify.Context.invoke_variant] for a
 * [callback@Syncify.CheckedVariantFunc]: a function that fails (in a
 * language binding: raises or throws anything) fails the call with its
 * error, or with %G_IO_ERROR_FAILED when it gives none; it never returns
 * %NULL as a success.
 *
 * |[
 * def work(cancellable, data):
 *     return True, GLib.Variant('i', data * 2)
 *
 * value = context.invoke_checked(work, 21)       # GLib.Variant('i', 42)
 * ]|
 *
 * |[
 * const value = context.invoke_checked(() => [true, new GLib.Variant('i', 42)], null);
 * ]|
 *
 * Returns: (transfer full) (nullable): what @func returned, %NULL for no
 *   value, or %NULL with @error set
 *
 * Since: 1.0
 */
GVariant *
syncify_context_invoke_checked (SyncifyContext             *self,
                                SyncifyCheckedVariantFunc   func,
                                gpointer                    user_data,
                                GCancellable               *cancellable,
                                GError                    **error)
{
  SyncifyBindingWrap w = { .checked_func = func, .user_data = user_data };

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_invoke_sync (self, checked_variant_func, &w, cancellable, error);
}

/**
 * syncify_context_asyncify_checked:
 * @self: the context the worker belongs to
 * @flags: %SYNCIFY_FLAGS_NONE or %SYNCIFY_FLAGS_ABANDON_ON_CANCEL
 * @func: (scope async) (closure user_data): the blocking function to run in
 *   a worker thread, called at most once
 * @user_data: data for @func
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @func
 * @callback: (scope async) (closure callback_data): called in the caller's
 *   thread-default main context when the job is done
 * @callback_data: data for @callback
 *
 * [method@Syncify.Context.asyncify_variant] for a
 * [callback@Syncify.CheckedVariantFunc]: a function that fails (in a
 * language binding: raises or throws anything, or cannot run in a worker
 * thread, as in GJS) makes
 * [method@Syncify.Context.asyncify_checked_finish] fail, never return
 * %NULL as a success.
 *
 * In Python, @user_data is a plain value passed to @func as its last
 * argument, as in every entry point (see the "Language bindings" page for
 * PyGObject's rule that the library's override smooths over); the binding
 * frees @func after its one call. A job that never runs (refused
 * with %SYNCIFY_ERROR_CLOSED, or abandoned before it started) never calls
 * the function: a binding may then keep it until the program exits.
 *
 * |[
 * def work(cancellable, n):
 *     return True, GLib.Variant('i', n * 2)
 *
 * def done(context, result):
 *     print(context.asyncify_checked_finish(result).unpack())   # raises on failure
 *
 * context.asyncify_checked(Syncify.Flags.NONE, work, 21, None, done)
 * context.asyncify_checked(Syncify.Flags.NONE, work, 21, callback=done)
 * ]|
 *
 * JavaScript functions cannot run in a worker thread: from GJS the job
 * fails with an error, it never runs the function.
 *
 * |[<!-- language="JavaScript" -->
 * context.asyncify_checked(Syncify.Flags.NONE, () => [true, null], null,
 *     (ctx, result) => ctx.asyncify_checked_finish(result));   // throws
 * ]|
 *
 * While the context's [property@Syncify.Context:max-workers] is 0, the jobs
 * of the binding entry points run under a bound of their own: the number of
 * processors the process may use (at least 2). A Python function holds the
 * GIL while it runs Python code, and the bound keeps the pool from adding
 * threads that only contend for it with the main loop. The property is left
 * alone, and the context's other jobs keep the pool's default; a bound you
 * set on the property applies to all of them. See "Python and the GIL" on
 * the asyncify page.
 *
 * Since: 1.0
 */
void
syncify_context_asyncify_checked (SyncifyContext            *self,
                                  SyncifyFlags               flags,
                                  SyncifyCheckedVariantFunc  func,
                                  gpointer                   user_data,
                                  GCancellable              *cancellable,
                                  GAsyncReadyCallback        callback,
                                  gpointer                   callback_data)
{
  SyncifyBindingWrap *w;

  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (func != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  w = syncify_binding_wrap_new (NULL, NULL, user_data, NULL);
  w->checked_func = func;
  syncify_asyncify_for_binding (self, flags, checked_variant_func, w,
                                syncify_binding_wrap_free,
                                (GDestroyNotify) g_variant_unref,
                                cancellable, callback, callback_data);
}

/**
 * syncify_context_asyncify_checked_finish:
 * @self: a `SyncifyContext`
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Gets the result of [method@Syncify.Context.asyncify_checked].
 *
 * Returns: (transfer full) (nullable): what the function returned, %NULL
 *   for no value, or %NULL with @error set
 *
 * Since: 1.0
 */
GVariant *
syncify_context_asyncify_checked_finish (SyncifyContext  *self,
                                         GAsyncResult    *result,
                                         GError         **error)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_asyncify_finish (self, result, error);
}

/**
 * syncify_context_await_checked:
 * @self: (nullable): the context to run the operation on, or %NULL for the
 *   calling worker's context
 * @flags: %SYNCIFY_FLAGS_NONE or %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT
 * @start: (scope call) (closure user_data): starts the operation and says
 *   whether it did
 * @user_data: data for @start
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @start
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Syncify.Context.await_operation] for a
 * [callback@Syncify.CheckedStartFunc]: a start function that fails (in a
 * language binding: raises or throws anything) fails the call at once with
 * its error, or with %G_IO_ERROR_FAILED, whatever the binding does with the
 * function's frames. Cancelling @cancellable ends the call with
 * %G_IO_ERROR_CANCELLED even if the operation is never completed.
 *
 * |[
 * def start(operation, cancellable, file):
 *     file.load_contents_async(cancellable, operation.complete)
 *     return True
 *
 * result = context.await_checked(Syncify.Flags.ALLOW_PRIVATE_CONTEXT, start, file)
 * ok, contents, etag = file.load_contents_finish(result)
 * ]|
 *
 * |[
 * const result = context.await_checked(Syncify.Flags.ALLOW_PRIVATE_CONTEXT, (op, cancellable) => {
 *     file.load_contents_async(cancellable, (src, res) => op.complete(src, res));
 *     return true;
 * }, null);
 * const [ok, contents] = file.load_contents_finish(result);
 * ]|
 *
 * Returns: (transfer full) (nullable): the result of the asynchronous call,
 *   or %NULL with @error set
 *
 * Since: 1.0
 */
GAsyncResult *
syncify_context_await_checked (SyncifyContext           *self,
                               SyncifyFlags              flags,
                               SyncifyCheckedStartFunc   start,
                               gpointer                  user_data,
                               GCancellable             *cancellable,
                               GError                  **error)
{
  SyncifyBindingWrap w = { .checked_start = start, .user_data = user_data };

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (start != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_syncify (self, flags, checked_operation_start,
                                  syncify_operation_finish_func, &w, cancellable, error);
}

/**
 * syncify_context_await_checked_async:
 * @self: the context to run the operation on
 * @start: (scope async) (closure user_data): starts the operation and says
 *   whether it did; called at most once
 * @user_data: data for @start
 * @cancellable: (nullable): a [class@Gio.Cancellable] to cancel the operation
 * @callback: (scope async) (closure callback_data): called in the calling
 *   thread's thread-default main context when the operation is done
 * @callback_data: data for @callback
 *
 * The asynchronous form of [method@Syncify.Context.await_checked]: runs the
 * call made by @start on the owner of @self and delivers its result through
 * [method@Syncify.Context.await_checked_finish]. @user_data is a plain
 * value, as for [method@Syncify.Context.asyncify_checked].
 *
 * |[
 * def start(operation, cancellable, file):
 *     file.load_contents_async(cancellable, operation.complete)
 *     return True
 *
 * def done(context, result, *callback_data):
 *     ok, contents, etag = file.load_contents_finish(context.await_checked_finish(result))
 *
 * bg.await_checked_async(start, file, None, done)
 * ]|
 *
 * |[<!-- language="JavaScript" -->
 * // On a context the script's own loop runs (GJS runs JavaScript there only).
 * context.await_checked_async((op, cancellable) => {
 *     file.load_contents_async(cancellable, (src, res) => op.complete(src, res));
 *     return true;
 * }, null, (ctx, result) => {
 *     const [ok, contents] = file.load_contents_finish(ctx.await_checked_finish(result));
 * });
 * ]|
 *
 * Since: 1.0
 */
void
syncify_context_await_checked_async (SyncifyContext          *self,
                                     SyncifyCheckedStartFunc  start,
                                     gpointer                 user_data,
                                     GCancellable            *cancellable,
                                     GAsyncReadyCallback      callback,
                                     gpointer                 callback_data)
{
  SyncifyBindingWrap *w;

  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (start != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  w = syncify_binding_wrap_new (NULL, NULL, user_data, NULL);
  w->checked_start = start;
  syncify_context_call_async (self, checked_operation_start, syncify_operation_finish_func,
                              w, syncify_binding_wrap_free, g_object_unref,
                              cancellable, callback, callback_data);
}

/**
 * syncify_context_await_checked_finish:
 * @self: a `SyncifyContext`
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Gets the result of [method@Syncify.Context.await_checked_async]: the
 * asynchronous call's own result, for its `_finish` method.
 *
 * Returns: (transfer full) (nullable): the asynchronous call's result, or
 *   %NULL with @error set
 *
 * Since: 1.0
 */
GAsyncResult *
syncify_context_await_checked_finish (SyncifyContext  *self,
                                      GAsyncResult    *result,
                                      GError         **error)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_call_finish (self, result, error);
}
