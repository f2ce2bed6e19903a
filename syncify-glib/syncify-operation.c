/* syncify-operation.c: the entry points for language bindings
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
 * introspectable; bindings use these instead:
 *
 * - [method@Syncify.Context.asyncify_variant] and
 *   [method@Syncify.Context.invoke_variant] run a function returning a
 *   [struct@GLib.Variant];
 * - [method@Syncify.Context.await_operation] runs an asynchronous call and
 *   returns its [iface@Gio.AsyncResult] for the caller's `_finish` method;
 *   [method@Syncify.Context.await_operation_async] is its asynchronous form.
 *
 * Python (PyGObject) may use all of them from any thread: PyGObject takes
 * the interpreter lock for callbacks run on other threads.
 *
 * PyGObject passes a trailing `data` argument to these functions. A
 * `GLib.Error` raised in a [callback@Syncify.VariantFunc] becomes its error;
 * any other exception is printed and the function returns %NULL, which the
 * caller cannot tell from a success. A start function that raises may leave
 * its operation uncompleted and alive (PyGObject keeps the exception's
 * frames in `sys.last_traceback`): the call then ends only when its
 * cancellable is cancelled.
 *
 * The checked forms do not have these gaps, and are the ones to use from
 * bindings: [method@Syncify.Context.invoke_checked],
 * [method@Syncify.Context.asyncify_checked],
 * [method@Syncify.Context.invoke_object],
 * [method@Syncify.Context.await_checked] and
 * [method@Syncify.Context.await_checked_async] take functions that return a
 * boolean ([callback@Syncify.CheckedVariantFunc],
 * [callback@Syncify.CheckedObjectFunc], [callback@Syncify.CheckedStartFunc]).
 * PyGObject and GJS return %FALSE from a function that raises or throws, and
 * GJS from one it refuses to run on another thread: the call then fails at
 * once with the exception's `GLib.Error`, or %G_IO_ERROR_FAILED.
 *
 * User data: in GJS, functions get none (use closures). In PyGObject, the
 * blocking entry points (`invoke_*`, `await_operation`, `await_checked`)
 * pass a plain value to the function as its last argument; in the
 * asynchronous ones, which end with a callback and its data, PyGObject
 * expects every user data as a tuple of arguments (`(7,)`). Binding values
 * with a lambda or a closure works the same everywhere.
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
static void
operation_answer_error (SyncifyOperation *self,
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
      operation_answer_error (self,
                              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED,
                                                   _("The start function returned without starting "
                                                     "an operation (it failed, or the language binding "
                                                     "refused to run it on this thread)")));
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

/* ------------------------------------------------------------------------ */

typedef struct {
  SyncifyOperationStartFunc  start;
  SyncifyVariantFunc         func;
  gpointer                   user_data;
  SyncifyCheckedStartFunc    checked_start;
  SyncifyCheckedVariantFunc  checked_func;
  SyncifyCheckedObjectFunc   object_func;
  GDestroyNotify             user_data_destroy;
  GMainContext              *caller_context;   /* (owned) (nullable): where to free */
} Wrap;

static Wrap *
wrap_new (SyncifyOperationStartFunc start,
          SyncifyVariantFunc        func,
          gpointer                  user_data,
          GDestroyNotify            user_data_destroy)
{
  Wrap *w = g_new0 (Wrap, 1);

  w->start = start;
  w->func = func;
  w->user_data = user_data;
  w->user_data_destroy = user_data_destroy;
  return w;
}

static void
wrap_free (gpointer data)
{
  Wrap *w = data;

  if (w->user_data_destroy != NULL)
    w->user_data_destroy (w->user_data);
  g_clear_pointer (&w->caller_context, g_main_context_unref);
  g_free (w);
}

static gboolean
wrap_free_cb (gpointer data)
{
  /* Pairs with the release in wrap_free_in_caller_context(). */
  SYNCIFY_TSAN_ACQUIRE (data);
  wrap_free (data);
  return G_SOURCE_REMOVE;
}

/* The user data of a binding is its closure, which must be freed on the
 * thread that made it (GJS crashes otherwise): the caller's context. */
static void
wrap_free_in_caller_context (gpointer data)
{
  Wrap *w = data;
  GMainContext *caller_context = w->caller_context;

  if (caller_context == NULL || g_main_context_is_owner (caller_context))
    {
      wrap_free (w);
      return;
    }

  /* @w holds a reference on the context, maybe the last (syncify_post()
   * holds its own across the attach). The hand-off goes through GLib's
   * (uninstrumented) context lock: @w is read before the release and not
   * touched on this thread after it. */
  SYNCIFY_TSAN_RELEASE (w);
  syncify_post (caller_context, G_PRIORITY_DEFAULT_IDLE,
                "[syncify] free a binding's closure", wrap_free_cb, w, NULL);
}

static gpointer
operation_finish (GObject       *source_object,
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
    operation_answer_error (op, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                     _("Operation was cancelled")));
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

static SyncifyOperation *
operation_new (GCancellable        *cancellable,
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

static void
operation_start (gpointer             data,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             callback_data)
{
  Wrap *w = data;
  SyncifyOperation *op = operation_new (cancellable, callback, callback_data);

  w->start (op, cancellable, w->user_data);
  g_object_unref (op);
}

/* The error of a checked function that failed without saying why. */
static GError *
function_failed_error (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED,
                              _("The function failed without an error (an exception "
                                "in a language binding, or the binding refused to "
                                "run it on this thread)"));
}

static void
checked_operation_start (gpointer             data,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             callback_data)
{
  Wrap *w = data;
  SyncifyOperation *op = operation_new (cancellable, callback, callback_data);
  GError *error = NULL;

  if (!w->checked_start (op, cancellable, w->user_data, &error))
    operation_answer_error (op, error != NULL ? error : function_failed_error ());
  else
    g_clear_error (&error);
  g_object_unref (op);
}

static gpointer
checked_variant_func (gpointer       data,
                      GCancellable  *cancellable,
                      GError       **error)
{
  Wrap *w = data;
  GError *local_error = NULL;
  GVariant *result = NULL;

  if (!w->checked_func (cancellable, w->user_data, &result, &local_error))
    {
      g_clear_pointer (&result, g_variant_unref);
      g_propagate_error (error, local_error != NULL ? local_error : function_failed_error ());
      return NULL;
    }
  g_clear_error (&local_error);
  if (result != NULL)
    g_variant_take_ref (result);
  return result;
}

static gpointer
checked_object_func (gpointer       data,
                     GCancellable  *cancellable,
                     GError       **error)
{
  Wrap *w = data;
  GError *local_error = NULL;
  GObject *result = NULL;

  if (!w->object_func (cancellable, w->user_data, &result, &local_error))
    {
      g_clear_object (&result);
      g_propagate_error (error, local_error != NULL ? local_error : function_failed_error ());
      return NULL;
    }
  g_clear_error (&local_error);
  if (result != NULL && g_object_is_floating (result))
    g_object_ref_sink (result);
  return result;
}

static gpointer
variant_func (gpointer       data,
              GCancellable  *cancellable,
              GError       **error)
{
  Wrap *w = data;
  GError *local_error = NULL;
  GVariant *result = w->func (cancellable, w->user_data, &local_error);

  if (result != NULL)
    g_variant_take_ref (result);

  if (local_error != NULL)
    {
      g_clear_pointer (&result, g_variant_unref);
      g_propagate_error (error, local_error);
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
 * A Python function holds the GIL while it runs Python code, and the
 * pool's default bound is tuned for C work: to keep a main loop responsive
 * while many Python jobs run, set [property@Syncify.Context:max-workers]
 * (say, to 2) on the context the jobs are started from, or on a context of
 * their own. See "Python work and the GIL" on the asyncify page.
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

  syncify_context_asyncify (self, flags, variant_func,
                            wrap_new (NULL, func, user_data, user_data_destroy), wrap_free,
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
 * Returns: (transfer full) (nullable): what the function returned
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
 * Returns: (transfer full) (nullable): what @func returned
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
  Wrap w = { NULL, func, user_data, };

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_invoke_sync (self, variant_func, &w, cancellable, error);
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
 * |[
 * def start(operation, cancellable, data):
 *     file.load_contents_async(cancellable, operation.complete)
 *
 * result = context.await_operation(Syncify.Flags.ALLOW_PRIVATE_CONTEXT, start)
 * ok, contents, etag = file.load_contents_finish(result)
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
  Wrap w = { start, NULL, user_data, };

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (start != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_syncify (self, flags, operation_start, operation_finish, &w,
                                  cancellable, error);
}

static void
closure_start (SyncifyOperation *operation,
               GCancellable     *cancellable,
               gpointer          user_data)
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
  Wrap *w;

  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (start != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  w = wrap_new (start, NULL, user_data, user_data_destroy);
  w->caller_context = g_main_context_ref_thread_default ();
  syncify_context_call_async (self, operation_start, operation_finish,
                              w, wrap_free_in_caller_context, g_object_unref,
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
  Wrap w = { NULL, NULL, user_data, NULL, func, NULL, };

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
 * @user_data is a plain value in every binding (PyGObject passes it to
 * @func as its last argument), as for the other checked entry points; the
 * binding frees @func after its one call. A job that never runs (refused
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
 * ]|
 *
 * A Python function holds the GIL while it runs Python code, and the
 * pool's default bound is tuned for C work: to keep a main loop responsive
 * while many Python jobs run, set [property@Syncify.Context:max-workers]
 * (say, to 2) on the context the jobs are started from, or on a context of
 * their own. See "Python work and the GIL" on the asyncify page.
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
  Wrap *w;

  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (func != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  w = wrap_new (NULL, NULL, user_data, NULL);
  w->checked_func = func;
  syncify_context_asyncify (self, flags, checked_variant_func, w, wrap_free,
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
 * syncify_context_invoke_object:
 * @self: (nullable): the context to run @func on, or %NULL for the calling
 *   worker's context
 * @func: (scope call) (closure user_data): the function to run
 * @user_data: data for @func
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @func
 * @error: return location for a [struct@GLib.Error]
 *
 * Runs @func on the owner of @self, as
 * [method@Syncify.Context.invoke_checked] does, and returns the object it
 * gives: the way for language bindings to get a loop-bound object (a
 * `SoupSession`, a [class@Gio.DBusConnection]) made on a background context
 * out of it, to use through further calls on that context.
 *
 * Tear such an object down on its own thread with
 * [method@Syncify.Context.dispose_object] before shutting the context down
 * (see the "Loop-bound objects" section of the background contexts page).
 *
 * |[
 * bg = Syncify.Context.new_thread('http')
 * session = bg.invoke_object(lambda cancellable, data: (True, Soup.Session()))
 * ...
 * bg.dispose_object(session)
 * bg.shutdown()
 * ]|
 *
 * Returns: (transfer full) (nullable): the object @func returned, %NULL
 *   for none, or %NULL with @error set
 *
 * Since: 1.0
 */
GObject *
syncify_context_invoke_object (SyncifyContext            *self,
                               SyncifyCheckedObjectFunc   func,
                               gpointer                   user_data,
                               GCancellable              *cancellable,
                               GError                   **error)
{
  Wrap w = { NULL, NULL, user_data, NULL, NULL, func, };

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_invoke_sync (self, checked_object_func, &w, cancellable, error);
}

typedef struct {
  GObject *object;
  GThread *thread;
} Disposal;

static gpointer
dispose_func (gpointer       data,
              GCancellable  *cancellable,
              GError       **error)
{
  Disposal *d = data;

  d->thread = g_thread_self ();
  g_object_run_dispose (d->object);
  return NULL;
}

/**
 * syncify_context_dispose_object:
 * @self: (nullable): the context that owns @object, or %NULL for the
 *   calling worker's context
 * @object: an object bound to the loop of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Tears @object down on the thread that owns @self: runs
 * [method@GObject.Object.run_dispose] there, and waits for it. Disposing
 * drops what the object holds (a `SoupSession` closes its connections, a
 * [class@Gio.DBusConnection] its worker); the references that remain, such
 * as a binding's wrapper, then only hold memory, which may be freed on any
 * thread.
 *
 * Call it before [method@Syncify.Context.shutdown]: after the shutdown,
 * nothing runs on a background context's thread, and this fails with
 * %SYNCIFY_ERROR_CLOSED without touching @object.
 *
 * Returns: %TRUE once disposed, %FALSE with @error set if it could not run
 *
 * Since: 1.0
 */
gboolean
syncify_context_dispose_object (SyncifyContext  *self,
                                GObject         *object,
                                GError         **error)
{
  Disposal d = { object, NULL };
  GError *local_error = NULL;

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), FALSE);
  g_return_val_if_fail (G_IS_OBJECT (object), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_object_ref (object);
  syncify_context_invoke_sync (self, dispose_func, &d, NULL, &local_error);
  g_object_unref (object);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
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
  Wrap w = { NULL, NULL, user_data, start, NULL, NULL, };

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (start != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_syncify (self, flags, checked_operation_start, operation_finish, &w,
                                  cancellable, error);
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
  Wrap *w;

  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (start != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  w = wrap_new (NULL, NULL, user_data, NULL);
  w->checked_start = start;
  syncify_context_call_async (self, checked_operation_start, operation_finish,
                              w, wrap_free, g_object_unref,
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
