/* syncify-context.c: SyncifyContext
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SyncifyContext:
 *
 * A `SyncifyContext` wraps one [struct@GLib.MainContext] and makes the two
 * crossings between blocking code and GIO asynchronous code safe:
 *
 * - **asyncify** ([method@Syncify.Context.asyncify]): blocking work runs in
 *   a worker thread and its result comes back as an ordinary
 *   [callback@Gio.AsyncReadyCallback] and `_finish` pair, in the caller's
 *   thread-default main context.
 * - **syncify** ([method@Syncify.Context.syncify],
 *   [method@Syncify.Context.invoke_sync]): blocking code runs an asynchronous
 *   operation and waits for its result, either by pushing it to the thread
 *   that runs the context, or, with %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, by
 *   iterating a private main context on the calling thread.
 *
 * A context made with [ctor@Syncify.Context.new_thread] has a thread and a
 * main loop of its own (a *background context*): every operation wrapped by
 * it runs there, whether called synchronously from any thread or
 * asynchronously with [method@Syncify.Context.call_async] from another loop.
 * Objects bound to the loop they were created on, such as a
 * [class@Gio.DBusConnection], can then be used from anywhere.
 *
 * ## Words
 *
 * - The *owner* of a context is the thread iterating its main context; for a
 *   background context, its own thread.
 * - A *worker* is a thread running a function handed to
 *   [method@Syncify.Context.asyncify]; it belongs to that context, which
 *   [func@Syncify.Context.get_current] returns inside the function.
 *
 * ## Thread-safety
 *
 * All methods of `SyncifyContext` may be called from any thread. Each one
 * says which thread runs the functions and destroy notifies it is given.
 * Blocking calls never wait forever on a context that is shut down, and never
 * wait on a thread that is itself waiting on the caller: they fail with
 * %SYNCIFY_ERROR_CLOSED or %SYNCIFY_ERROR_WOULD_DEADLOCK instead.
 *
 * Since: 1.0
 */

#include "config.h"

#include "syncify-asyncify-private.h"
#include "syncify-call-private.h"
#include "syncify-local-private.h"

enum {
  PROP_0,
  PROP_MAIN_CONTEXT,
  PROP_NAME,
  PROP_BACKGROUND,
  PROP_MAX_WORKERS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (SyncifyContext, syncify_context, G_TYPE_OBJECT)

static void
syncify_context_constructed (GObject *object)
{
  SyncifyContext *self = SYNCIFY_CONTEXT (object);

  G_OBJECT_CLASS (syncify_context_parent_class)->constructed (object);

  if (self->background)
    {
      if (self->name == NULL)
        self->name = g_strdup ("syncify");
      g_clear_pointer (&self->main_context, g_main_context_unref);

      /* Without a descriptor or a thread, the context is born closed:
       * every call fails with SYNCIFY_ERROR_CLOSED, and the constructors
       * report init_error. With no main context and no inbox, nothing gets
       * past the closed checks, and shutdown has nothing to do. */
      if (syncify_check_fd_available (&self->init_error))
        {
          self->main_context = g_main_context_new ();
          self->inbox = syncify_inbox_new (self->main_context);
          self->bg = syncify_background_start (self->main_context, self->cancel->shutdown,
                                               self->name, self->teardown,
                                               &self->init_error);
        }
      if (self->bg == NULL)
        {
          GQueue none = G_QUEUE_INIT;

          g_atomic_int_set (&self->closed, TRUE);
          if (self->inbox != NULL)
            syncify_inbox_close (self->inbox, &none);
        }
    }
  else
    {
      if (self->main_context == NULL)
        self->main_context = g_main_context_ref_thread_default ();
      self->inbox = syncify_inbox_new (self->main_context);
    }

  self->node = (SyncifyNode) {
    .name = self->name,
    .id = self,
    .main_context = self->main_context,
    .background = self->background,
    .record = self->inbox != NULL ? syncify_inbox_get_owner_record (self->inbox) : NULL,
  };
  syncify_graph_add_node (&self->node);
}

static void
syncify_context_dispose (GObject *object)
{
  SyncifyContext *self = SYNCIFY_CONTEXT (object);

  syncify_context_shutdown (self);

  G_OBJECT_CLASS (syncify_context_parent_class)->dispose (object);
}

static void
syncify_context_finalize (GObject *object)
{
  SyncifyContext *self = SYNCIFY_CONTEXT (object);

  /* After every reference dropped in the library (see shutdown). */
  SYNCIFY_TSAN_ACQUIRE (self);
  syncify_graph_remove_node (&self->node);

  g_clear_pointer (&self->inbox, syncify_inbox_destroy);
  g_clear_pointer (&self->bg, syncify_background_unref);
  g_clear_pointer (&self->main_context, g_main_context_unref);
  g_clear_pointer (&self->cancel, syncify_cancel_set_unref);
  g_clear_pointer (&self->name, g_free);
  g_clear_error (&self->init_error);
  g_clear_pointer (&self->teardown, syncify_teardown_list_unref);

  G_OBJECT_CLASS (syncify_context_parent_class)->finalize (object);
}

static void
syncify_context_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  SyncifyContext *self = SYNCIFY_CONTEXT (object);

  switch (prop_id)
    {
    case PROP_MAIN_CONTEXT:
      g_value_set_boxed (value, self->main_context);
      break;

    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;

    case PROP_BACKGROUND:
      g_value_set_boolean (value, self->background);
      break;

    case PROP_MAX_WORKERS:
      g_value_set_uint (value, syncify_context_get_max_workers (self));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
syncify_context_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  SyncifyContext *self = SYNCIFY_CONTEXT (object);

  switch (prop_id)
    {
    case PROP_MAIN_CONTEXT:
      self->main_context = g_value_dup_boxed (value);
      break;

    case PROP_NAME:
      self->name = g_value_dup_string (value);
      break;

    case PROP_BACKGROUND:
      self->background = g_value_get_boolean (value);
      break;

    case PROP_MAX_WORKERS:
      syncify_context_set_max_workers (self, g_value_get_uint (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
syncify_context_class_init (SyncifyContextClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = syncify_context_constructed;
  object_class->dispose = syncify_context_dispose;
  object_class->finalize = syncify_context_finalize;
  object_class->get_property = syncify_context_get_property;
  object_class->set_property = syncify_context_set_property;

  /**
   * SyncifyContext:main-context:
   *
   * The [struct@GLib.MainContext] the context wraps. When constructed
   * without one, the thread-default main context of the constructing thread;
   * for a background context, a new one run by the context's own thread.
   *
   * Since: 1.0
   */
  properties[PROP_MAIN_CONTEXT] =
    g_param_spec_boxed ("main-context", NULL, NULL,
                        G_TYPE_MAIN_CONTEXT,
                        (G_PARAM_READWRITE |
                         G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS));

  /**
   * SyncifyContext:name:
   *
   * The name of the context, used in error messages; for a background
   * context also the name of its thread.
   *
   * Since: 1.0
   */
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * SyncifyContext:background:
   *
   * Whether the context runs a thread and main loop of its own, as made by
   * [ctor@Syncify.Context.new_thread].
   *
   * Since: 1.0
   */
  properties[PROP_BACKGROUND] =
    g_param_spec_boolean ("background", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE |
                           G_PARAM_CONSTRUCT_ONLY |
                           G_PARAM_EXPLICIT_NOTIFY |
                           G_PARAM_STATIC_STRINGS));

  /**
   * SyncifyContext:max-workers:
   *
   * How many of this context's asyncify workers may run at once; jobs beyond
   * it wait, in order. 0, the default, sets no bound of the context's own:
   * the shared pool then runs about one job per processor at a time, and
   * adds threads while running jobs are blocked off the CPU.
   *
   * A worker waiting inside this library (in [method@Syncify.Context.syncify]
   * or [method@Syncify.Context.invoke_sync]) keeps its slot while the thread
   * serving it is merely busy. Its slot is lent to the next job only while
   * its wait may need other jobs to run: once the owner has started a
   * syncify operation for it (the operation may itself asyncify), while it
   * iterates a private context, or while the owner it waits on is itself
   * blocked in this library. When the wait ends it takes a slot back before
   * any queued job. So at most max-workers of the context's workers run at
   * once, and workers waiting on jobs of their own never starve them.
   *
   * While it is 0, the jobs of the language bindings' entry points
   * ([method@Syncify.Context.asyncify_checked],
   * [method@Syncify.Context.asyncify_variant]) run under a bound of their
   * own, the number of processors the process may use (at least 2), so that
   * Python functions, which hold the GIL, leave the main loop its turn; see
   * "Python and the GIL" on the asyncify page. Once set, it bounds those
   * jobs too.
   *
   * Since: 1.0
   */
  properties[PROP_MAX_WORKERS] =
    g_param_spec_uint ("max-workers", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
syncify_context_init (SyncifyContext *self)
{
  self->cancel = syncify_cancel_set_new ();
  syncify_pool_group_init (&self->group);
  syncify_pool_group_init (&self->binding_group);
  syncify_pool_group_set_max (&self->binding_group, MAX (2, syncify_usable_processors ()));
  self->teardown = syncify_teardown_list_new ();
}

/* ------------------------------------------------------------------------ *
 * Construction and accessors
 * ------------------------------------------------------------------------ */

/**
 * syncify_context_new:
 * @main_context: (nullable): the [struct@GLib.MainContext] to wrap, or
 *   %NULL for the calling thread's thread-default main context
 *
 * Creates a context wrapping @main_context. Blocking calls on it push their
 * work to whichever thread iterates @main_context.
 *
 * Returns: (transfer full): a new `SyncifyContext`
 *
 * Since: 1.0
 */
SyncifyContext *
syncify_context_new (GMainContext *main_context)
{
  return g_object_new (SYNCIFY_TYPE_CONTEXT,
                       "main-context", main_context,
                       NULL);
}

/**
 * syncify_context_new_thread:
 * @name: (nullable): the name of the context and of its thread, or %NULL for
 *   "syncify"
 *
 * Creates a background context: a new [struct@GLib.MainContext] iterated on
 * a new thread named @name, for the life of the object. It is the counterpart of Flyte's `Syncify("name")`: every
 * operation wrapped by it runs on that thread, whether called synchronously
 * from any other thread ([method@Syncify.Context.syncify],
 * [method@Syncify.Context.invoke_sync]) or asynchronously from another loop
 * ([method@Syncify.Context.call_async]).
 *
 * The thread is stopped and joined by [method@Syncify.Context.shutdown], or
 * when the last reference is dropped.
 *
 * Like g_thread_new(), this function aborts the program when the thread (or
 * the main context's wake-up file descriptor) cannot be created; use
 * [ctor@Syncify.Context.try_new_thread] to get a #GError instead.
 *
 * Returns: (transfer full): a new background `SyncifyContext`
 *
 * Since: 1.0
 */
SyncifyContext *
syncify_context_new_thread (const char *name)
{
  SyncifyContext *self = g_object_new (SYNCIFY_TYPE_CONTEXT,
                                       "name", name,
                                       "background", TRUE,
                                       NULL);

  if G_UNLIKELY (self->init_error != NULL)
    g_error ("Cannot start the thread of context \"%s\": %s",
             self->name, self->init_error->message);

  return self;
}

/**
 * syncify_context_try_new_thread:
 * @name: (nullable): the name of the context and of its thread, or %NULL for
 *   "syncify"
 * @error: return location for a #GError
 *
 * Creates a background context, as [ctor@Syncify.Context.new_thread] does,
 * but reports a failure to create its thread (%G_THREAD_ERROR_AGAIN, for
 * instance when the process reached its thread limit) or its main context
 * (a #GIOError such as %G_IO_ERROR_TOO_MANY_OPEN_FILES when no file
 * descriptor is left) as @error instead of aborting.
 *
 * Returns: (transfer full) (nullable): a new background `SyncifyContext`, or
 *   %NULL with @error set
 *
 * Since: 1.0
 */
SyncifyContext *
syncify_context_try_new_thread (const char  *name,
                                GError     **error)
{
  SyncifyContext *self;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (SYNCIFY_TYPE_CONTEXT,
                       "name", name,
                       "background", TRUE,
                       NULL);
  if (self->init_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&self->init_error));
      g_object_unref (self);
      return NULL;
    }

  return self;
}

/**
 * syncify_context_get_default:
 *
 * Gets the context wrapping the global default main context (see
 * [func@GLib.MainContext.default]). It lives as long as the process.
 *
 * Returns: (transfer none): the default context
 *
 * Since: 1.0
 */
SyncifyContext *
syncify_context_get_default (void)
{
  static SyncifyContext *default_context;

  if (g_once_init_enter (&default_context))
    {
      SyncifyContext *context = g_object_new (SYNCIFY_TYPE_CONTEXT,
                                              "main-context", g_main_context_default (),
                                              "name", "default",
                                              NULL);
      g_once_init_leave (&default_context, context);
    }

  return default_context;
}

/**
 * syncify_context_get_current:
 *
 * Gets the context the calling thread works for: inside a function run by
 * [method@Syncify.Context.asyncify], the context it was asyncified on.
 * Blocking calls given a %NULL context push to this one.
 *
 * Returns: (transfer none) (nullable): the calling worker's context, or
 *   %NULL if the calling thread is not running an asyncify job
 *
 * Since: 1.0
 */
SyncifyContext *
syncify_context_get_current (void)
{
  return syncify_thread_self ()->work_context;
}

/**
 * syncify_context_get_main_context:
 * @self: a `SyncifyContext`
 *
 * Gets the main context @self wraps.
 *
 * Returns: (transfer none): the [struct@GLib.MainContext]
 *
 * Since: 1.0
 */
GMainContext *
syncify_context_get_main_context (SyncifyContext *self)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);

  return self->main_context;
}

/**
 * syncify_context_get_name:
 * @self: a `SyncifyContext`
 *
 * Gets the name of @self, see [property@Syncify.Context:name].
 *
 * Returns: (nullable): the name
 *
 * Since: 1.0
 */
const char *
syncify_context_get_name (SyncifyContext *self)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);

  return self->name;
}

/**
 * syncify_context_get_max_workers:
 * @self: a `SyncifyContext`
 *
 * Gets the bound on this context's running workers, see
 * [property@Syncify.Context:max-workers].
 *
 * Returns: the bound, or 0 for none of the context's own
 *
 * Since: 1.0
 */
guint
syncify_context_get_max_workers (SyncifyContext *self)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), 0);

  return syncify_pool_group_get_max (&self->group);
}

/**
 * syncify_context_set_max_workers:
 * @self: a `SyncifyContext`
 * @max_workers: how many workers may run at once, or 0 for no bound of the
 *   context's own
 *
 * Sets [property@Syncify.Context:max-workers]. Raising the bound starts
 * queued jobs at once; lowering it lets running jobs finish.
 *
 * Since: 1.0
 */
void
syncify_context_set_max_workers (SyncifyContext *self,
                                 guint           max_workers)
{
  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));

  if (syncify_pool_group_get_max (&self->group) == max_workers)
    return;

  syncify_pool_group_set_max (&self->group, max_workers);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_WORKERS]);
}

/**
 * syncify_context_is_closed:
 * @self: a `SyncifyContext`
 *
 * Whether [method@Syncify.Context.shutdown] was called.
 *
 * Returns: %TRUE if @self refuses new work
 *
 * Since: 1.0
 */
gboolean
syncify_context_is_closed (SyncifyContext *self)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), FALSE);

  return g_atomic_int_get (&self->closed);
}

/**
 * syncify_context_shutdown:
 * @self: a `SyncifyContext`
 *
 * Shuts @self down:
 *
 * - new work is refused with %SYNCIFY_ERROR_CLOSED;
 * - work that has not started (calls waiting in the context's queue,
 *   asyncify jobs waiting for a worker) completes with %SYNCIFY_ERROR_CLOSED:
 *   blocked callers return at once; asynchronous ones get the error in their
 *   own thread-default main context, where their user data destroy notifies
 *   also run;
 * - running work is cancelled through the cancellable it was given; callers
 *   blocked on it get its answer when it honours the cancellation;
 * - for a background context, its loop runs until the operations started on
 *   it have completed, then its thread is joined, unless this is called on
 *   that thread, which then exits on its own.
 *
 * Every caller gets exactly one answer, also when its cancellable fires
 * while shutdown runs: %G_IO_ERROR_CANCELLED if the cancellation took its
 * work off the queue first, %SYNCIFY_ERROR_CLOSED otherwise. (An
 * asynchronous caller whose cancellable has fired by the time it calls
 * [method@Syncify.Context.call_finish] gets %G_IO_ERROR_CANCELLED either
 * way, as [class@Gio.Task] reports it.)
 *
 * Calling it again does nothing. It is also called when the last reference
 * is dropped. This function is thread-safe.
 *
 * Since: 1.0
 */
void
syncify_context_shutdown (SyncifyContext *self)
{
  GQueue stolen = G_QUEUE_INIT;
  GList *jobs;
  GThread *thread = NULL;

  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));

  if (!g_atomic_int_compare_and_exchange (&self->closed, FALSE, TRUE))
    return;

  g_object_ref (self);

  /* Calls that have not started: answer them. */
  if (self->inbox != NULL)
    syncify_inbox_close (self->inbox, &stolen);
  for (GList *l = stolen.head, *next; l != NULL; l = next)
    {
      next = l->next;
      l->prev = l->next = NULL;
      syncify_call_end_shut_down (l->data);
    }

  /* Jobs that have not started, in order, the bindings' after the others. */
  jobs = g_list_concat (syncify_pool_group_drain (&self->group),
                        syncify_pool_group_drain (&self->binding_group));
  for (GList *l = jobs; l != NULL; l = l->next)
    syncify_job_end_shut_down (l->data);
  g_list_free (jobs);

  /* A background loop keeps running until nothing is in flight. */
  if (self->bg != NULL)
    thread = syncify_background_stop (self->bg);

  /* Work that runs: cancel it. */
  syncify_cancel_set_close (self->cancel);

  /* No thread of its own to run the teardown functions: run them here. */
  if (thread == NULL)
    syncify_teardown_list_run (self->teardown);
  else
    syncify_background_join (thread, self->main_context, &self->node);

  /* GObject's reference count is invisible to ThreadSanitizer: this
   * reference may be the last, and finalize run elsewhere. */
  SYNCIFY_TSAN_RELEASE (self);
  g_object_unref (self);
}
