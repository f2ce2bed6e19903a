/* syncify-operation.c: SyncifyOperation, and await_operation for language
 * bindings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SyncifyOperation:
 *
 * An asynchronous operation started for [method@Syncify.Context.await_operation]
 * or [method@Syncify.Context.await_operation_async]: the bindable counterpart
 * of the `callback` and `callback_data` pair a [callback@Syncify.StartFunc]
 * receives.
 *
 * The start function hands [method@Syncify.Operation.complete] to the
 * asynchronous call as its callback. The operation must be completed exactly
 * once, on the thread that started it.
 *
 * ## Language bindings
 *
 * The C entry points that take `gpointer` results and C callbacks are not
 * introspectable; bindings use the checked entry points
 * ([method@Syncify.Context.invoke_checked],
 * [method@Syncify.Context.asyncify_checked],
 * [method@Syncify.Context.invoke_object],
 * [method@Syncify.Context.await_checked] and
 * [method@Syncify.Context.await_checked_async]), or the unchecked ones
 * ([method@Syncify.Context.invoke_variant],
 * [method@Syncify.Context.asyncify_variant],
 * [method@Syncify.Context.await_operation] and
 * [method@Syncify.Context.await_operation_async]). The "Language
 * bindings" page gives their one convention and its examples:
 *
 * - every function gets its user data as its last argument (Python: the
 *   value given, or `None`; JavaScript: none, use closures), and every
 *   asynchronous entry point ends with GIO's `cancellable, callback,
 *   callback_data`. PyGObject wants the user data of the asynchronous ones
 *   as a tuple of arguments; the `gi.overrides.Syncify` module installed
 *   with the library lifts that;
 * - an exception raised in any function reaches the caller as an error,
 *   never as a success with no value: the checked functions return %FALSE
 *   when they raise; a [callback@Syncify.VariantFunc] returning %NULL
 *   without an error fails the call; a start function's error fails its
 *   operation at once (GJS sets it for any exception, PyGObject for a
 *   `GLib.Error`, and for any exception through the override).
 *
 * Python (PyGObject) may use all of them from any thread: PyGObject takes
 * the interpreter lock for callbacks run on other threads.
 *
 * GJS (at least 1.74 to 1.82) keeps the callback it made for a call in a slot
 * of the called function, not of the call: a function called again from its
 * own callback, before it returned, frees the inner call's callback twice
 * and the outer one never (a use-after-free that shows as a
 * `g_closure_ref: assertion 'closure->ref_count > 0' failed` critical and a
 * crash later on). This is what a nested blocking call does, so from
 * JavaScript nest [method@Syncify.Context.await_operation_with_closure],
 * which takes its start function as a [struct@GObject.Closure] that GJS
 * keeps per call.
 *
 * JavaScript (GJS) runs JavaScript on its main thread only. From GJS, use
 * the private-context path (%SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT) and
 * [method@Syncify.Context.await_operation_async] on a context the script's
 * own loop runs. A JavaScript function that would run on another thread (a
 * [callback@Syncify.VariantFunc] given to
 * [method@Syncify.Context.asyncify_variant], or to
 * [method@Syncify.Context.invoke_variant] or a start function given to
 * [method@Syncify.Context.await_operation] on a background context) is never
 * run: GJS 1.74 blocks the call and logs a critical ("Attempting to run a
 * JS callback on a different thread"); a variant function then returns
 * %NULL, and an operation fails with %G_IO_ERROR_FAILED. GJS 1.82 crashes
 * there instead (in GJS, on the other thread), so never hand a JavaScript
 * function to a call that runs it on another thread.
 *
 * Since: 1.0
 */

#include "config.h"

#include "syncify-private.h"
#include "syncify-operation.h"
#include "syncify-binding-private.h"

struct _SyncifyOperation
{
  GObject              parent_instance;

  GAsyncReadyCallback  callback;
  gpointer             callback_data;
  GCancellable        *cancellable;   /* (owned) (nullable) */
  GThread             *thread;        /* the thread that started it */
  GMainContext        *context;       /* (owned) (nullable): its thread-default
                                       * context, where a cancellation is answered */
  gulong               cancelled_id;  /* handler on @cancellable, or 0 */
  gboolean             completed;     /* the caller was answered */
  gboolean             abandoned;     /* answered without the call's result: a
                                       * late completion is dropped */
};

G_DEFINE_FINAL_TYPE (SyncifyOperation, syncify_operation, G_TYPE_OBJECT)

/* Marks the result of an operation that was never started. */
static void
operation_not_started (void)
{
}

/* Called on the operation's thread. */
static void
operation_disconnect (SyncifyOperation *self)
{
  if (self->cancelled_id != 0)
    {
      g_cancellable_disconnect (self->cancellable, self->cancelled_id);
      self->cancelled_id = 0;
    }
}

/* Answers the caller with @error (taken) instead of the call's result, if it
 * was not answered yet; a late completion of the call is then dropped.
 * Called on the operation's thread. */
void
syncify_operation_answer_error (SyncifyOperation *self,
                                GError           *error)
{
  GTask *task;

  if (self->completed)
    {
      g_error_free (error);
      return;
    }

  task = g_task_new (NULL, NULL, NULL, NULL);
  g_task_set_source_tag (task, operation_not_started);
  g_task_return_error (task, error);
  self->completed = TRUE;
  self->abandoned = TRUE;
  operation_disconnect (self);
  self->callback (NULL, G_ASYNC_RESULT (task), self->callback_data);
  g_object_unref (task);
}

static void
syncify_operation_finalize (GObject *object)
{
  SyncifyOperation *self = SYNCIFY_OPERATION (object);

  if (!self->completed)
    {
      /* The start function dropped it: it raised an exception, or the
       * language binding refused to run it (GJS, on another thread). The
       * caller must not wait forever: complete it with an error. */
      GError *error = NULL;

      syncify_error_not_started (&error);
      syncify_operation_answer_error (self, error);
    }
  operation_disconnect (self);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (syncify_operation_parent_class)->finalize (object);
}

static void
syncify_operation_class_init (SyncifyOperationClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = syncify_operation_finalize;
}

static void
syncify_operation_init (SyncifyOperation *self)
{
}

/**
 * syncify_operation_complete:
 * @self: a `SyncifyOperation`
 * @source_object: (nullable): the source object the asynchronous call
 *   passed to its callback
 * @result: the [iface@Gio.AsyncResult] it passed
 *
 * Completes the operation with @result: a
 * [callback@Gio.AsyncReadyCallback], to pass as the callback of the
 * asynchronous call made by the start function. Call it once, on the thread
 * that started the operation.
 *
 * An operation whose caller was answered already (its start function
 * failed, or its cancellable fired and the call had not answered yet)
 * drops the late result.
 *
 * Since: 1.0
 */
void
syncify_operation_complete (SyncifyOperation *self,
                            GObject          *source_object,
                            GAsyncResult     *result)
{
  g_return_if_fail (SYNCIFY_IS_OPERATION (self));
  g_return_if_fail (source_object == NULL || G_IS_OBJECT (source_object));
  g_return_if_fail (G_IS_ASYNC_RESULT (result));

  if (self->abandoned)
    {
      /* The caller was answered already (the start function failed, or the
       * cancellable fired and the call did not answer first). */
      g_debug ("syncify_operation_complete(): dropping the late result of an "
               "abandoned operation");
      return;
    }
  if (self->completed)
    {
      g_critical ("syncify_operation_complete() called twice for one operation");
      return;
    }
  if (self->thread != g_thread_self ())
    g_warning ("syncify_operation_complete() called on another thread than "
               "the one that started the operation");

  self->completed = TRUE;
  operation_disconnect (self);
  self->callback (source_object, result, self->callback_data);
}

/**
 * syncify_operation_get_cancellable:
 * @self: a `SyncifyOperation`
 *
 * Gets the cancellable to hand to the asynchronous call (the same one the
 * start function receives).
 *
 * Returns: (transfer none) (nullable): the cancellable
 *
 * Since: 1.0
 */
GCancellable *
syncify_operation_get_cancellable (SyncifyOperation *self)
{
  g_return_val_if_fail (SYNCIFY_IS_OPERATION (self), NULL);

  return self->cancellable;
}

/**
 * syncify_operation_is_completed:
 * @self: a `SyncifyOperation`
 *
 * Whether [method@Syncify.Operation.complete] was called.
 *
 * Returns: %TRUE once completed
 *
 * Since: 1.0
 */
gboolean
syncify_operation_is_completed (SyncifyOperation *self)
{
  g_return_val_if_fail (SYNCIFY_IS_OPERATION (self), FALSE);

  return self->completed;
}

gpointer
syncify_operation_finish_func (GObject       *source_object,
                               GAsyncResult  *result,
                               gpointer       user_data,
                               GError       **error)
{
  if (g_async_result_is_tagged (result, operation_not_started))
    {
      g_task_propagate_pointer (G_TASK (result), error);
      return NULL;
    }

  return g_object_ref (result);
}

static gboolean
operation_cancelled_cb (gpointer data)
{
  SyncifyOperation *op = data;

  if (!op->completed)
    {
      GError *error = NULL;

      syncify_error_cancelled (&error);
      syncify_operation_answer_error (op, error);
    }
  return G_SOURCE_REMOVE;
}

/* Called in any thread, by whoever cancels. The handler may run while the
 * operation is being finalized: it only takes a reference through @weak. */
static void
operation_on_cancelled (GCancellable *cancellable,
                        gpointer      data)
{
  GWeakRef *weak = data;
  SyncifyOperation *op = g_weak_ref_get (weak);

  if (op == NULL)
    return;
  /* Answered on the operation's thread, after what is already pending
   * there (the call's own cancelled completion, usually). */
  syncify_post (op->context, G_PRIORITY_LOW, "[syncify] answer a cancelled operation",
                operation_cancelled_cb, op, g_object_unref);
}

static void
operation_weak_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

SyncifyOperation *
syncify_operation_new_for_call (GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             callback_data)
{
  SyncifyOperation *op = g_object_new (SYNCIFY_TYPE_OPERATION, NULL);

  op->callback = callback;
  op->callback_data = callback_data;
  op->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  op->thread = g_thread_self ();
  op->context = g_main_context_ref_thread_default ();

  /* Whatever the start function does with the operation (a binding may
   * keep it alive with the frames of an exception), cancelling ends the
   * call. */
  if (cancellable != NULL)
    {
      GWeakRef *weak = g_new0 (GWeakRef, 1);

      g_weak_ref_init (weak, op);
      op->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (operation_on_cancelled),
                                                weak, operation_weak_free);
    }
  return op;
}

/* The closure of a binding and its user data, freed where it was made. */
SyncifyBindingWrap *
syncify_binding_wrap_new (SyncifyOperationStartFunc start,
                          SyncifyVariantFunc        func,
                          gpointer                  user_data,
                          GDestroyNotify            user_data_destroy)
{
  SyncifyBindingWrap *w = g_new0 (SyncifyBindingWrap, 1);

  w->start = start;
  w->func = func;
  w->user_data = user_data;
  w->user_data_destroy = user_data_destroy;
  return w;
}

void
syncify_binding_wrap_free (gpointer data)
{
  SyncifyBindingWrap *w = data;

  if (w->user_data_destroy != NULL)
    w->user_data_destroy (w->user_data);
  g_clear_pointer (&w->caller_context, g_main_context_unref);
  g_free (w);
}

static gboolean
wrap_free_cb (gpointer data)
{
  syncify_binding_wrap_free (data);
  return G_SOURCE_REMOVE;
}

/* The user data of a binding is its closure, which must be freed on the
 * thread that made it (GJS crashes otherwise): the caller's context. */
void
syncify_binding_wrap_free_in_caller_context (gpointer data)
{
  SyncifyBindingWrap *w = data;
  GMainContext *caller_context = w->caller_context;

  if (caller_context == NULL || g_main_context_is_owner (caller_context))
    {
      syncify_binding_wrap_free (w);
      return;
    }

  /* @w holds a reference on the context, maybe the last (syncify_post()
   * holds its own across the attach, and declares the hand-off). */
  syncify_post (caller_context, G_PRIORITY_DEFAULT_IDLE,
                "[syncify] free a binding's closure", wrap_free_cb, w, NULL);
}

static void
operation_start (gpointer             data,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             callback_data)
{
  SyncifyBindingWrap *w = data;
  SyncifyOperation *op = syncify_operation_new_for_call (cancellable, callback, callback_data);
  GError *error = NULL;

  w->start (op, cancellable, w->user_data, &error);
  /* A binding sets @error for an exception (GJS: any; PyGObject: a
   * GLib.Error), whatever it then does with the function's frames. */
  if (error != NULL)
    syncify_operation_answer_error (op, error);
  g_object_unref (op);
}

/**
 * syncify_context_await_operation:
 * @self: (nullable): the context to run the operation on, or %NULL for the
 *   calling worker's context
 * @flags: %SYNCIFY_FLAGS_NONE or %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT
 * @start: (scope call) (closure user_data): starts the operation
 * @user_data: data for @start
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @start
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Syncify.Context.await] for language bindings: runs the
 * asynchronous call made by @start as [method@Syncify.Context.syncify] does
 * (pushed to the owner, or in the calling thread's private context) and
 * returns its result for the caller's `_finish` method.
 *
 * A start function that sets its error (in GJS: throws anything; in
 * Python: raises anything, with the library's override) fails the call at
 * once with it.
 *
 * |[
 * def start(operation, cancellable, file):
 *     file.load_contents_async(cancellable, operation.complete)
 *
 * result = context.await_operation(Syncify.Flags.ALLOW_PRIVATE_CONTEXT, start, file)
 * ok, contents, etag = file.load_contents_finish(result)
 * ]|
 *
 * |[<!-- language="JavaScript" -->
 * const result = context.await_operation(Syncify.Flags.ALLOW_PRIVATE_CONTEXT,
 *     (op, cancellable) => file.load_contents_async(cancellable, (src, res) => op.complete(src, res)),
 *     null);
 * const [ok, contents] = file.load_contents_finish(result);
 * ]|
 *
 * Returns: (transfer full) (nullable): the result of the asynchronous call,
 *   or %NULL with @error set if it could not run
 *
 * Since: 1.0
 */
GAsyncResult *
syncify_context_await_operation (SyncifyContext             *self,
                                 SyncifyFlags                flags,
                                 SyncifyOperationStartFunc   start,
                                 gpointer                    user_data,
                                 GCancellable               *cancellable,
                                 GError                    **error)
{
  SyncifyBindingWrap w = { .start = start, .user_data = user_data };

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (start != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_syncify (self, flags, operation_start, syncify_operation_finish_func, &w,
                                  cancellable, error);
}

static void
closure_start (SyncifyOperation  *operation,
               GCancellable      *cancellable,
               gpointer           user_data,
               GError           **error)
{
  GClosure *closure = user_data;
  GValue params[2] = { G_VALUE_INIT, G_VALUE_INIT };

  g_value_init (&params[0], SYNCIFY_TYPE_OPERATION);
  g_value_set_object (&params[0], operation);
  g_value_init (&params[1], G_TYPE_CANCELLABLE);
  g_value_set_object (&params[1], cancellable);

  g_closure_invoke (closure, NULL, G_N_ELEMENTS (params), params, NULL);

  g_value_unset (&params[0]);
  g_value_unset (&params[1]);
}

/**
 * syncify_context_await_operation_with_closure:
 * @self: (nullable): the context to run the operation on, or %NULL for the
 *   calling worker's context
 * @flags: %SYNCIFY_FLAGS_NONE or %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT
 * @start: a closure taking the [class@Syncify.Operation] and the
 *   [class@Gio.Cancellable] (or %NULL), and returning nothing: starts the
 *   operation, as a [callback@Syncify.OperationStartFunc] does
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @start
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Syncify.Context.await_operation] with the start function given as
 * a [struct@GObject.Closure]: for language bindings that keep a callback per
 * function rather than per call, where a call nested in its own start
 * function (a blocking call inside an operation's start) would free the
 * outer call's callback too early. GJS is one (see [class@Syncify.Operation]);
 * in JavaScript:
 *
 * |[<!-- language="JavaScript" -->
 * const result = Syncify.Context.get_default().await_operation_with_closure(
 *     Syncify.Flags.ALLOW_PRIVATE_CONTEXT,
 *     (operation, cancellable) => file.load_contents_async(cancellable,
 *         (source, res) => operation.complete(source, res)),
 *     null);
 * ]|
 *
 * @start is invoked once, on the thread that runs the operation, before this
 * function returns; it is not kept afterwards.
 *
 * A closure has no error to set, and GJS leaves the return value of a
 * closure alone both when it throws and when it returns `undefined`: a
 * closure that throws cannot be told from one that started its call. Give
 * such a call a cancellable, or use [method@Syncify.Context.await_checked]
 * where no nesting is needed. (In Python, the library's override makes
 * this form fail at once when the start function raises.)
 *
 * |[
 * result = context.await_operation_with_closure(
 *     Syncify.Flags.ALLOW_PRIVATE_CONTEXT,
 *     lambda op, cancellable: file.load_contents_async(cancellable, op.complete))
 * ]|
 *
 * Returns: (transfer full) (nullable): the result of the asynchronous call,
 *   or %NULL with @error set if it could not run
 *
 * Since: 1.0
 */
GAsyncResult *
syncify_context_await_operation_with_closure (SyncifyContext  *self,
                                              SyncifyFlags     flags,
                                              GClosure        *start,
                                              GCancellable    *cancellable,
                                              GError         **error)
{
  GAsyncResult *result;

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (start != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_closure_ref (start);
  g_closure_sink (start);
  result = syncify_context_await_operation (self, flags, closure_start, start,
                                            cancellable, error);
  g_closure_unref (start);

  return result;
}

/**
 * syncify_context_await_operation_async:
 * @self: the context to run the operation on
 * @start: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   starts the operation
 * @user_data: data for @start
 * @user_data_destroy: (nullable): frees @user_data in the calling thread's
 *   thread-default main context once the operation completed (a binding's
 *   closure must be freed on the thread that made it)
 * @cancellable: (nullable): a [class@Gio.Cancellable] to cancel the operation
 * @callback: (scope async) (closure callback_data): called in the calling
 *   thread's thread-default main context when the operation is done
 * @callback_data: data for @callback
 *
 * [method@Syncify.Context.await_async] for language bindings: runs the
 * asynchronous call made by @start on the owner of @self and delivers its
 * result through [method@Syncify.Context.await_operation_finish].
 *
 * |[
 * def done(context, result, *callback_data):
 *     ok, contents, etag = file.load_contents_finish(context.await_operation_finish(result))
 *
 * def start(op, cancellable, file):
 *     file.load_contents_async(cancellable, op.complete)
 *
 * bg.await_operation_async(start, file, None, done)
 * ]|
 *
 * |[<!-- language="JavaScript" -->
 * // On a context the script's own loop runs (GJS runs JavaScript there only).
 * Gio._promisify(Syncify.Context.prototype, 'await_operation_async', 'await_operation_finish');
 * const result = await context.await_operation_async(
 *     (op, cancellable) => file.load_contents_async(cancellable, (src, res) => op.complete(src, res)),
 *     null);
 * ]|
 *
 * Since: 1.0
 */
void
syncify_context_await_operation_async (SyncifyContext            *self,
                                       SyncifyOperationStartFunc  start,
                                       gpointer                   user_data,
                                       GDestroyNotify             user_data_destroy,
                                       GCancellable              *cancellable,
                                       GAsyncReadyCallback        callback,
                                       gpointer                   callback_data)
{
  SyncifyBindingWrap *w;

  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (start != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  w = syncify_binding_wrap_new (start, NULL, user_data, user_data_destroy);
  w->caller_context = g_main_context_ref_thread_default ();
  syncify_context_call_async (self, operation_start, syncify_operation_finish_func,
                              w, syncify_binding_wrap_free_in_caller_context, g_object_unref,
                              cancellable, callback, callback_data);
}

/**
 * syncify_context_await_operation_finish:
 * @self: a `SyncifyContext`
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Gets the result of [method@Syncify.Context.await_operation_async]: the
 * asynchronous call's own result, for its `_finish` method.
 *
 * Returns: (transfer full) (nullable): the asynchronous call's result, or
 *   %NULL with @error set if it could not run
 *
 * Since: 1.0
 */
GAsyncResult *
syncify_context_await_operation_finish (SyncifyContext  *self,
                                        GAsyncResult    *result,
                                        GError         **error)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_call_finish (self, result, error);
}
