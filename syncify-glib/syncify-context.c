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

#include <errno.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
# include <sys/eventfd.h>
#endif

#include "syncify-private.h"
#include "syncify-teardown-private.h"

struct _SyncifyContext
{
  GObject           parent_instance;

  /* Immutable after construction. */
  GMainContext     *main_context;   /* (owned) */
  char             *name;           /* (owned) (nullable) */
  gboolean          background;
  GSource          *inbox;          /* (owned): attached to main_context */
  struct _BackgroundData *bg;       /* (owned) (nullable): background only */

  GError           *init_error;     /* (owned) (nullable): a background context
                                     * whose thread could not be started */

  GMutex            lock;
  GThread          *thread;         /* (owned) (nullable): protected by @lock */
  gboolean          closed;         /* (atomic) */
  GQueue            cancel_on_shutdown; /* CancelEntry; protected by @lock */

  /* Shared by the workers of this context that were given no cancellable. */
  GCancellable     *shutdown_cancellable; /* (owned) */

  SyncifyPoolGroup  group;          /* protected by the pool's lock */

  SyncifyTeardownList *teardown;    /* (owned): run once, at shutdown */
};

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

/**
 * syncify_error_quark:
 *
 * The error domain of syncify-glib's runtime errors, %SYNCIFY_ERROR.
 *
 * Returns: the quark
 *
 * Since: 1.0
 */
GQuark
syncify_error_quark (void)
{
  /* Not G_DEFINE_QUARK: its lazy initialisation of a plain static is a data
   * race when two threads raise the first error at once. */
  static gsize quark = 0;

  if (g_once_init_enter (&quark))
    g_once_init_leave (&quark, g_quark_from_static_string ("syncify-error-quark"));

  return (GQuark) quark;
}

/* ------------------------------------------------------------------------ *
 * Translations
 * ------------------------------------------------------------------------ */

void
syncify_i18n_init (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
      bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
      g_once_init_leave (&initialized, 1);
    }
}

/* ------------------------------------------------------------------------ *
 * Cancellation helpers
 * ------------------------------------------------------------------------ */

/* Work that shutdown must cancel: the cancellable handed to an operation or
 * a worker function. Embedded in the job or call; linked into
 * cancel_on_shutdown while the work runs. */
typedef struct {
  GList         link;
  GCancellable *cancellable;
} CancelEntry;

static void
context_track_cancel (SyncifyContext *self,
                      CancelEntry    *entry,
                      GCancellable   *cancellable)
{
  gboolean closed;

  entry->cancellable = cancellable;
  entry->link = (GList) { .data = entry };
  syncify_mutex_lock (&self->lock);
  g_queue_push_tail_link (&self->cancel_on_shutdown, &entry->link);
  /* Shutdown sets closed before it collects what to cancel under this
   * lock: work registered after that cancels itself. */
  closed = g_atomic_int_get (&self->closed);
  syncify_mutex_unlock (&self->lock);

  if (closed)
    g_cancellable_cancel (cancellable);
}

static void
context_untrack_cancel (SyncifyContext *self,
                        CancelEntry    *entry)
{
  syncify_mutex_lock (&self->lock);
  g_queue_unlink (&self->cancel_on_shutdown, &entry->link);
  syncify_mutex_unlock (&self->lock);
}

/* A cancellable that fires when any of up to two others fire. */
typedef struct {
  GCancellable *combined;      /* (owned) (nullable) */
  GCancellable *sources[2];    /* (nullable): not owned, outlive the chain */
  gulong        handlers[2];
} Chain;

static void
chain_forward_cancel (GCancellable *source,
                      gpointer      data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
}

/* Returns the cancellable to hand on: one of @a or @b when only one is set
 * and @always_new is FALSE, else a new one that follows both. */
static GCancellable *
chain_init (Chain        *chain,
            GCancellable *a,
            GCancellable *b,
            gboolean      always_new)
{
  memset (chain, 0, sizeof *chain);

  if (a == b)
    b = NULL;

  if (!always_new && (a == NULL || b == NULL))
    return a != NULL ? a : b;

  chain->combined = g_cancellable_new ();
  chain->sources[0] = a;
  chain->sources[1] = b;
  for (guint i = 0; i < 2; i++)
    if (chain->sources[i] != NULL)
      chain->handlers[i] = g_cancellable_connect (chain->sources[i],
                                                  G_CALLBACK (chain_forward_cancel),
                                                  chain->combined, NULL);

  return chain->combined;
}

static void
chain_clear (Chain *chain)
{
  for (guint i = 0; i < 2; i++)
    if (chain->sources[i] != NULL && chain->handlers[i] != 0)
      g_cancellable_disconnect (chain->sources[i], chain->handlers[i]);
  g_clear_object (&chain->combined);
  memset (chain, 0, sizeof *chain);
}

/* The cancellable handed to work run on @target for a caller whose own are
 * @a and @b (either may be NULL): it fires when either does, or when @target
 * is shut down. With neither, @target's shared shutdown cancellable, at no
 * cost; otherwise a new one in @chain, which must be tracked for shutdown
 * while the work runs (context_track_cancel()) and cleared after. */
static GCancellable *
work_cancellable (SyncifyContext *target,
                  Chain          *chain,
                  GCancellable   *a,
                  GCancellable   *b)
{
  if (a == target->shutdown_cancellable)
    a = NULL;
  if (b == target->shutdown_cancellable)
    b = NULL;

  if (a == NULL && b == NULL)
    {
      memset (chain, 0, sizeof *chain);
      return target->shutdown_cancellable;
    }

  return chain_init (chain, a, b, TRUE);
}

/* ------------------------------------------------------------------------ *
 * Runtime errors and results shared by every path
 * ------------------------------------------------------------------------ */

/* GLib aborts when g_main_context_new() cannot make its wake-up descriptor:
 * where the library is about to make one, it checks first that a descriptor
 * can be had, and fails with a GError instead (another thread may still take
 * the last one in between). */
static gboolean
check_fd_available (GError **error)
{
  int fds[2] = { -1, -1 };
  int errsv;

#ifdef __linux__
  fds[0] = eventfd (0, EFD_CLOEXEC);
  if (fds[0] >= 0)
    {
      close (fds[0]);
      return TRUE;
    }
#else
  if (pipe (fds) == 0)
    {
      close (fds[0]);
      close (fds[1]);
      return TRUE;
    }
#endif
  errsv = errno;
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
               _("Cannot create a main context: %s"), g_strerror (errsv));
  return FALSE;
}

static void
set_shut_down_error (GError **error)
{
  g_set_error_literal (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED,
                       _("The context was shut down"));
}

static void
set_cancelled_error (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                       _("Operation was cancelled"));
}

/* A callback returns a result or sets an error, not both: such a result is
 * dropped (and leaked, as no destroy notify is known here). */
static gpointer
checked_result (gpointer      result,
                const GError *error,
                const char   *func_type)
{
  if (result != NULL && error != NULL)
    {
      g_critical ("A %s returned a result and set an error; the result is leaked",
                  func_type);
      return NULL;
    }
  return result;
}

/* ------------------------------------------------------------------------ *
 * Background threads
 * ------------------------------------------------------------------------ */

/* Shared by a background context and its thread, so that neither keeps the
 * other alive: the thread runs until @stop is set, whoever drops the last
 * reference frees it. */
typedef struct _BackgroundData {
  gint          ref_count;     /* (atomic) */
  gint          stop;          /* (atomic) shutdown asked the loop to stop */
  gint          n_inflight;    /* (atomic) operations started on the loop, not
                                * yet completed: it runs until they are */
  GMainContext *main_context;  /* (owned) */
  GCancellable *shutdown_cancellable; /* (owned): the context's */
  char         *name;          /* (owned) */
  SyncifyTeardownList *teardown; /* (owned): the context's, run by the thread */
} BackgroundData;

static void
background_data_unref (gpointer data)
{
  BackgroundData *bg = data;

  if (!g_atomic_int_dec_and_test (&bg->ref_count))
    return;
  g_main_context_unref (bg->main_context);
  g_object_unref (bg->shutdown_cancellable);
  g_free (bg->name);
  syncify_teardown_list_unref (bg->teardown);
  g_free (bg);
}

/* Called in any thread. The loop leaves once nothing started on it is in
 * flight; unlike g_main_loop_quit(), this is never lost if the loop has not
 * started yet. */
static void
background_stop (BackgroundData *bg)
{
  g_atomic_int_set (&bg->stop, 1);
  g_main_context_wakeup (bg->main_context);
}

/* Deliveries addressed to a background context (the result of an asyncify
 * or a call_async started on its thread) keep its loop running, like the
 * operations started on it, until they are delivered: none is ever left in
 * a context nobody iterates. Returns the held background, or NULL when
 * @delivery is not the calling thread's background context. */
static BackgroundData *
delivery_background (GMainContext *delivery)
{
  BackgroundData *bg = syncify_thread_self ()->background;

  return bg != NULL && bg->main_context == delivery ? bg : NULL;
}

static BackgroundData *
delivery_hold (GMainContext *delivery)
{
  BackgroundData *bg = delivery_background (delivery);

  if (bg == NULL)
    return NULL;

  g_atomic_int_inc (&bg->ref_count);
  g_atomic_int_inc (&bg->n_inflight);
  return bg;
}

static gboolean
delivery_release_cb (gpointer data)
{
  BackgroundData *bg = data;

  /* On the background thread: its loop checks after this iteration
   * whether it may stop. */
  g_atomic_int_add (&bg->n_inflight, -1);
  background_data_unref (bg);
  return G_SOURCE_REMOVE;
}

/* Called in any thread. The release itself happens on the background
 * thread, so that nothing of it (its main context, its descriptor) is
 * freed elsewhere after its shutdown returned. */
static void
delivery_release (BackgroundData *bg)
{
  if (syncify_thread_self ()->background == bg)
    delivery_release_cb (bg);
  else
    syncify_post (bg->main_context, G_PRIORITY_DEFAULT, "[syncify] delivery release",
                  delivery_release_cb, bg, NULL);
}

/* A GTask's hold on its background delivery context: released once its
 * callback has run ("completed"), or when it is freed without returning. */
typedef struct {
  BackgroundData *bg;
  gint            released;   /* (atomic) */
} TaskHold;

static void
task_hold_release (TaskHold *hold)
{
  if (g_atomic_int_compare_and_exchange (&hold->released, 0, 1))
    delivery_release (hold->bg);
}

static void
task_hold_completed_cb (GObject    *task,
                        GParamSpec *pspec,
                        gpointer    data)
{
  task_hold_release (data);
}

static void
task_hold_free (gpointer data)
{
  task_hold_release (data);
  g_free (data);
}

/* Keeps a background delivery context running until @task has delivered. */
static void
task_hold_delivery (GTask *task)
{
  BackgroundData *bg = delivery_hold (g_task_get_context (task));
  TaskHold *hold;

  if (bg == NULL)
    return;

  hold = g_new0 (TaskHold, 1);
  hold->bg = bg;
  g_task_set_task_data (task, hold, task_hold_free);
  g_signal_connect (task, "notify::completed", G_CALLBACK (task_hold_completed_cb), hold);
}

/* ------------------------------------------------------------------------ *
 * Calls: work pushed to the owner of a context through its inbox
 * ------------------------------------------------------------------------ */

typedef enum {
  CALL_INVOKE,    /* invoke_sync: a plain function, caller waits */
  CALL_SYNCIFY,   /* syncify: an async operation, caller waits */
  CALL_ASYNC,     /* call_async: an async operation, result through a GTask */
} CallKind;

/* Moves in and out of CALL_QUEUED only under the inbox lock. */
enum {
  CALL_IDLE,      /* not in the inbox (yet, or taken out by its cancellable) */
  CALL_QUEUED,    /* in the inbox: a cancellable may still take it out */
  CALL_STARTED,   /* taken out by the owner, or by shutdown to answer it */
  CALL_DONE,      /* (waiting calls) the waiter may return */
};

typedef struct _Call Call;
typedef struct _Inbox Inbox;

struct _Call {
  GList              link;            /* in the inbox queue */
  Call              *outer;           /* the call being run when this one
                                       * started (Inbox.running) */
  CallKind           kind;
  gint               state;           /* (atomic) */
  SyncifyContext    *context;         /* not owned: the task holds it (call_async);
                                       * a waiter may not, so it touches only
                                       * @inbox once the call is answered */
  Inbox             *inbox;           /* (owned) the context's, while queued or waited on */
  SyncifyThreadFunc  func;
  SyncifyStartFunc   start;
  SyncifyFinishFunc  finish;
  gpointer           user_data;
  GCancellable      *cancellable;     /* handed to start or func; not owned */
  gpointer           result;
  GError            *error;
  SyncifyThread     *waiter;          /* waiting calls */
  CancelEntry        cancel_entry;
  Chain              chain;           /* call_async */
  gulong             cancel_handler;  /* call_async */
  GTask             *task;            /* (owned): call_async */
  SyncifyContext    *context_ref;     /* (owned) (nullable): call_async when
                                       * the task's source is not the context */
  GDestroyNotify     user_data_destroy;
  GDestroyNotify     result_destroy;
};

/* The inbox: a GSource on the context's main context that runs pushed calls.
 *
 * Pushing costs no allocation: the call is linked into the queue, and the
 * owner is woken with g_main_context_wakeup() only when the inbox goes from
 * idle to pending. (g_source_set_ready_time() would also signal the wakeup
 * when the owner resets it in dispatch, since the inbox may recurse, costing
 * a write and a spurious iteration per call.) */
struct _Inbox {
  GSource             source;     /* first: the inbox is its GSource */
  GMainContext       *main_context; /* not owned: the context owns the source */
  gint                pending;    /* (atomic) calls were pushed since the last dispatch */
  SyncifyOwnerRecord  owner;      /* the thread that iterates main_context */
  GMutex              lock;
  GQueue              queue;      /* Call; protected by @lock */
  Call               *running;    /* the innermost invoke_sync call being run,
                                   * linked to the outer ones; only touched by
                                   * the thread that owns the context, which
                                   * runs them and lends their waiters' slots
                                   * when it blocks (an owner change goes
                                   * through the registry lock) */
  gboolean            closed;     /* protected by @lock */
};

G_STATIC_ASSERT (G_STRUCT_OFFSET (Inbox, source) == 0);

static void call_run (Call *call);
static gboolean wait_begin (SyncifyThread    *thread,
                            SyncifyWaitKind   kind,
                            GMainContext     *target,
                            SyncifyContext   *context,
                            SyncifyWaitState *saved,
                            GError          **error);

/* How long one dispatch of the inbox may run calls before it yields. */
#define INBOX_BUDGET_US 4000

static gboolean
inbox_prepare (GSource *source,
               gint    *timeout)
{
  Inbox *inbox = (Inbox *) source;
  SyncifyThread *me = syncify_thread_self ();

  /* Only the owner iterates: the thread seen here owns the context, between
   * two iterations too, until another thread iterates it or it exits. */
  if G_UNLIKELY (g_atomic_pointer_get (&inbox->owner.owner) != me)
    syncify_owner_record_set (&inbox->owner, me);

  *timeout = -1;
  return g_atomic_int_get (&inbox->pending) != 0;
}

static gboolean
inbox_check (GSource *source)
{
  Inbox *inbox = (Inbox *) source;

  return g_atomic_int_get (&inbox->pending) != 0;
}

static gboolean
inbox_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  Inbox *inbox = (Inbox *) source;

  gint64 deadline = 0;

  /* Cleared before draining: a call pushed after our last look at the
   * queue sets it again and wakes the context. */
  g_atomic_int_set (&inbox->pending, 0);

  for (guint n = 0; ; n++)
    {
      GList *link;
      Call *call = NULL;

      /* A flood of calls (progress reports from many workers) must not
       * hold the loop for long: after a few milliseconds, leave the rest
       * for the next iteration, so that other sources get their turn. */
      if ((n & 7) == 7)
        {
          gint64 now = g_get_monotonic_time ();

          if (deadline == 0)
            deadline = now + INBOX_BUDGET_US;
          else if (now >= deadline)
            {
              g_atomic_int_set (&inbox->pending, 1);
              break;
            }
        }

      syncify_mutex_lock (&inbox->lock);
      link = g_queue_pop_head_link (&inbox->queue);
      if (link != NULL)
        {
          call = link->data;
          g_atomic_int_set (&call->state, CALL_STARTED);
        }
      syncify_mutex_unlock (&inbox->lock);

      if (call == NULL)
        break;

      call_run (call);
    }

  return G_SOURCE_CONTINUE;
}

static void
inbox_finalize (GSource *source)
{
  Inbox *inbox = (Inbox *) source;

  g_assert (inbox->queue.length == 0);
  syncify_owner_record_fini (&inbox->owner);
  g_mutex_clear (&inbox->lock);
}

static GSourceFuncs inbox_funcs = {
  .prepare = inbox_prepare,
  .check = inbox_check,
  .dispatch = inbox_dispatch,
  .finalize = inbox_finalize,
};

static GSource *
inbox_new (GMainContext *main_context)
{
  GSource *source = g_source_new (&inbox_funcs, sizeof (Inbox));
  Inbox *inbox = (Inbox *) source;

  g_mutex_init (&inbox->lock);
  g_queue_init (&inbox->queue);
  inbox->main_context = main_context;
  syncify_owner_record_init (&inbox->owner, main_context);
  /* Wrapped by the thread that iterates it, which the inbox has not seen
   * yet: it owns the context from now on. */
  if (g_main_context_is_owner (main_context))
    syncify_owner_record_set (&inbox->owner, syncify_thread_self ());
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_static_name (source, "[syncify] inbox");
  g_source_set_can_recurse (source, TRUE);
  g_source_attach (source, main_context);

  return source;
}

/* Called in any thread. FALSE if the context is closed. */
static gboolean
inbox_push (SyncifyContext *self,
            Call           *call)
{
  Inbox *inbox = (Inbox *) self->inbox;

  call->link.data = call;
  call->link.prev = call->link.next = NULL;

  syncify_mutex_lock (&inbox->lock);
  if (inbox->closed)
    {
      syncify_mutex_unlock (&inbox->lock);
      return FALSE;
    }
  g_queue_push_tail_link (&inbox->queue, &call->link);
  g_atomic_int_set (&call->state, CALL_QUEUED);
  syncify_mutex_unlock (&inbox->lock);

  if (g_atomic_int_compare_and_exchange (&inbox->pending, 0, 1))
    g_main_context_wakeup (inbox->main_context);

  return TRUE;
}

/* Called in any thread. TRUE if @call was still queued and is now removed. */
static gboolean
inbox_remove (Inbox *inbox,
              Call  *call)
{
  gboolean removed = FALSE;

  syncify_mutex_lock (&inbox->lock);
  if (g_atomic_int_get (&call->state) == CALL_QUEUED)
    {
      g_queue_unlink (&inbox->queue, &call->link);
      g_atomic_int_set (&call->state, CALL_IDLE);
      removed = TRUE;
    }
  syncify_mutex_unlock (&inbox->lock);

  return removed;
}

/* Completes a waiting call: the waiter may return (and its stack, which holds
 * @call, go away) as soon as the state is published, so nothing touches
 * @call afterwards. */
static void
call_wake_waiter (Call *call)
{
  SyncifyThread *waiter = call->waiter;

  g_atomic_int_set (&call->state, CALL_DONE);
  syncify_thread_signal (waiter);
}

static void
async_call_free (Call *call)
{
  g_clear_object (&call->task);
  g_clear_error (&call->error);
  g_clear_object (&call->context_ref);
  g_free (call);
}

/* Called in the caller's thread-default context (where the task delivers),
 * or on the calling thread of call_async(); never inside an emission of the
 * call's cancellables, so disconnecting from them is safe. Runs
 * user_data_destroy if the owner did not, and returns the result. */
static void
async_call_complete (Call *call)
{
  GTask *task = g_steal_pointer (&call->task);

  if (call->cancel_handler != 0)
    {
      g_cancellable_disconnect (call->chain.combined, call->cancel_handler);
      call->cancel_handler = 0;
    }
  chain_clear (&call->chain);

  if (call->user_data_destroy != NULL)
    call->user_data_destroy (g_steal_pointer (&call->user_data));
  call->user_data_destroy = NULL;

  if (call->error != NULL)
    g_task_return_error (task, g_steal_pointer (&call->error));
  else
    g_task_return_pointer (task, g_steal_pointer (&call->result), call->result_destroy);

  g_object_unref (task);
  async_call_free (call);
}

static gboolean
async_call_complete_cb (gpointer data)
{
  Call *call = data;

  SYNCIFY_TSAN_ACQUIRE (call);
  async_call_complete (g_steal_pointer (&call));
  return G_SOURCE_REMOVE;
}

/* Hands @call to a thread that may disconnect its cancellable: the caller's
 * context, where the task will deliver anyway. */
static void
async_call_complete_later (Call *call)
{
  GMainContext *context = g_task_get_context (call->task);

  /* The hand-off goes through GLib's (uninstrumented) context lock; @call
   * is not touched on this thread after the release. */
  SYNCIFY_TSAN_RELEASE (call);
  syncify_post (context, G_PRIORITY_DEFAULT, "[syncify] call_async completion",
                async_call_complete_cb, call, NULL);
}

static void
context_op_started (SyncifyContext *self,
                    Call           *call)
{
  gboolean closed;

  call->cancel_entry.cancellable = call->cancellable;
  call->cancel_entry.link.data = &call->cancel_entry;
  if (self->bg != NULL)
    g_atomic_int_inc (&self->bg->n_inflight);
  syncify_mutex_lock (&self->lock);
  if (call->cancellable != NULL && call->cancellable != self->shutdown_cancellable)
    g_queue_push_tail_link (&self->cancel_on_shutdown, &call->cancel_entry.link);
  /* Shutdown sets closed before it collects what to cancel under this lock:
   * an operation registered after that must cancel itself, or a background
   * loop would wait for it forever. */
  closed = g_atomic_int_get (&self->closed);
  syncify_mutex_unlock (&self->lock);

  if (closed && call->cancellable != NULL)
    g_cancellable_cancel (call->cancellable);
}

/* Called on the owner. */
static void
context_op_finished (SyncifyContext *self,
                     Call           *call)
{
  if (call->cancellable != NULL && call->cancellable != self->shutdown_cancellable)
    {
      syncify_mutex_lock (&self->lock);
      g_queue_unlink (&self->cancel_on_shutdown, &call->cancel_entry.link);
      syncify_mutex_unlock (&self->lock);
    }

  /* On the owner: for a background context, its loop re-checks after this
   * iteration whether it may stop. */
  if (self->bg != NULL)
    g_atomic_int_add (&self->bg->n_inflight, -1);
}

static void
call_op_ready (GObject      *source_object,
               GAsyncResult *result,
               gpointer      data)
{
  Call *call = data;
  SyncifyContext *self = call->context;

  call->result = call->finish (source_object, result, call->user_data, &call->error);
  call->result = checked_result (call->result, call->error, "SyncifyFinishFunc");

  context_op_finished (self, call);

  if (call->kind == CALL_ASYNC)
    {
      /* The operation is done with user_data: free it here, on the owner,
       * where loop-bound objects belong. The rest happens on the caller's
       * side. */
      if (call->user_data_destroy != NULL)
        call->user_data_destroy (g_steal_pointer (&call->user_data));
      call->user_data_destroy = NULL;
      async_call_complete_later (call);
    }
  else
    call_wake_waiter (call);
}

/* Ends a call whose operation never started (call->error is set): the
 * waiter returns, or the asynchronous caller gets the error in its context. */
static void
call_end_unstarted (Call *call)
{
  if (call->kind == CALL_ASYNC)
    async_call_complete_later (call);
  else
    call_wake_waiter (call);
}

/* Whether @main_context is the calling thread's thread-default context. */
static gboolean
is_thread_default (GMainContext *main_context)
{
  GMainContext *td = g_main_context_get_thread_default ();

  if (td == NULL)
    td = g_main_context_default ();
  return td == main_context;
}

/* Called on the owner of @self. Runs the function of an invoke_sync call,
 * with a cancellable that shutdown cancels. */
static void
call_run_invoke (SyncifyContext *self,
                 Call           *call)
{
  Inbox *inbox = (Inbox *) self->inbox;
  gboolean tracked = call->cancellable != self->shutdown_cancellable;

  if (g_atomic_int_get (&self->closed))
    {
      /* Shut down between the push and now: it never started. */
      set_shut_down_error (&call->error);
      call_wake_waiter (call);
      return;
    }

  if (tracked)
    context_track_cancel (self, &call->cancel_entry, call->cancellable);

  /* Known as running: if the function blocks in the library, this thread
   * lends the waiter's worker slot (lend_owned_waiters). */
  call->outer = inbox->running;
  inbox->running = call;

  call->result = call->func (call->user_data, call->cancellable, &call->error);

  inbox->running = call->outer;

  if (tracked)
    context_untrack_cancel (self, &call->cancel_entry);

  call_wake_waiter (call);
}

/* Called on the owner of @call->context. */
static void
call_run (Call *call)
{
  SyncifyContext *self = call->context;
  gboolean pushed = FALSE;

  if (call->kind == CALL_INVOKE)
    {
      call_run_invoke (self, call);
      return;
    }

  if (call->kind == CALL_ASYNC && call->cancel_handler != 0)
    {
      /* Started: the handler that removes it from the queue has no more
       * use. (Not inside an emission: we are dispatching the inbox.) */
      g_cancellable_disconnect (call->chain.combined, call->cancel_handler);
      call->cancel_handler = 0;
    }

  if (g_atomic_int_get (&self->closed))
    {
      /* Shut down between the push and now: it never started. */
      set_shut_down_error (&call->error);
      call_end_unstarted (call);
      return;
    }

  if (call->cancellable != NULL && call->cancellable != self->shutdown_cancellable &&
      g_cancellable_is_cancelled (call->cancellable))
    {
      /* Cancelled by the caller before it could start: nothing to run. */
      set_cancelled_error (&call->error);
      call_end_unstarted (call);
      return;
    }

  /* The operation must deliver its callback to this context, which is only
   * the case if it is the thread-default one while start runs. */
  if (!is_thread_default (self->main_context))
    {
      g_main_context_push_thread_default (self->main_context);
      pushed = TRUE;
    }

  context_op_started (self, call);

  /* A worker waiting on this operation keeps its slot while the owner is
   * merely busy; from here on, the operation may itself need jobs of that
   * worker's context (an asyncify inside start), so its slot is lent. */
  if (call->waiter != NULL)
    syncify_thread_lend_slot (call->waiter);

  call->start (call->user_data, call->cancellable, call_op_ready, call);

  if (pushed)
    g_main_context_pop_thread_default (self->main_context);
}

/* ------------------------------------------------------------------------ *
 * Jobs: asyncify
 * ------------------------------------------------------------------------ */

enum {
  JOB_QUEUED,
  JOB_RUNNING,
  JOB_FINISHED,   /* func returned; completion posted */
  JOB_ABANDONED,  /* cancelled while running; completion posted; func still running */
  JOB_DROPPED,    /* removed before it started; completion posted */
};

struct _SyncifyJob
{
  SyncifyPoolItem    item;            /* first */
  gint               ref_count;       /* (atomic) */
  gint               state;           /* (atomic) */
  SyncifyContext    *context;         /* not owned: the task holds it */
  GTask             *task;            /* (owned) until completion */
  GMainContext      *delivery;        /* not owned: the task holds it */
  BackgroundData    *delivery_bg;     /* (owned) (nullable): a hold on the
                                       * background context it delivers to */
  gboolean           delivery_private;/* delivery is a thread's private context */
  SyncifyFlags       flags;
  SyncifyThreadFunc  func;
  gpointer           user_data;
  GDestroyNotify     user_data_destroy;
  GDestroyNotify     result_destroy;
  GCancellable      *cancellable;     /* (owned) (nullable): the caller's */
  gulong             cancel_handler;
  GCancellable      *func_cancellable;/* (owned) (nullable): handed to func */
  Chain              chain;
  CancelEntry        cancel_entry;
  gpointer           result;
  GError            *error;
};

static SyncifyJob *
job_ref (SyncifyJob *job)
{
  g_atomic_int_inc (&job->ref_count);
  return job;
}

static void
job_unref (gpointer data)
{
  SyncifyJob *job = data;

  if (!g_atomic_int_dec_and_test (&job->ref_count))
    return;

  if G_UNLIKELY (job->task != NULL)
    {
      /* Never delivered: the caller's main context was freed first. */
      if (job->cancel_handler != 0)
        g_cancellable_disconnect (job->cancellable, job->cancel_handler);
      if (job->user_data_destroy != NULL && job->user_data != NULL)
        job->user_data_destroy (job->user_data);
      if (job->result != NULL && job->result_destroy != NULL)
        job->result_destroy (job->result);
      g_clear_object (&job->task);
    }
  g_clear_object (&job->cancellable);
  g_clear_error (&job->error);
  /* Last: every delivery of the job is done, its loop may stop. */
  g_clear_pointer (&job->delivery_bg, delivery_release);
  g_free (job);
}

void
syncify_thread_lend_slot (SyncifyThread *thread)
{
  SyncifyJob *job = g_atomic_pointer_get (&thread->job);

  if (job != NULL)
    syncify_pool_lend (&job->item);
}

/* Called on the thread of the caller's context (the task's). */
static gboolean
job_complete_cb (gpointer data)
{
  SyncifyJob *job = data;
  GTask *task;
  gint state;

  SYNCIFY_TSAN_ACQUIRE (job);
  task = g_steal_pointer (&job->task);
  state = g_atomic_int_get (&job->state);

  if (job->cancel_handler != 0)
    {
      g_cancellable_disconnect (job->cancellable, job->cancel_handler);
      job->cancel_handler = 0;
    }

  if (state == JOB_ABANDONED)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "%s", _("Operation was cancelled"));
    }
  else
    {
      /* func is done with user_data: free it here, on the caller's side. */
      if (job->user_data_destroy != NULL)
        job->user_data_destroy (g_steal_pointer (&job->user_data));

      if (job->error != NULL)
        g_task_return_error (task, g_steal_pointer (&job->error));
      else
        g_task_return_pointer (task, g_steal_pointer (&job->result), job->result_destroy);
    }

  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

/* The late result of an abandoned job, freed where the job would have
 * delivered it. */
static gboolean
job_late_cleanup_cb (gpointer data)
{
  SyncifyJob *job = data;

  SYNCIFY_TSAN_ACQUIRE (job);

  if (job->result != NULL && job->result_destroy != NULL)
    job->result_destroy (g_steal_pointer (&job->result));
  job->result = NULL;
  if (job->user_data_destroy != NULL)
    job->user_data_destroy (g_steal_pointer (&job->user_data));

  return G_SOURCE_REMOVE;
}

/* Runs @func on @job in the delivery context, with a reference of its own. */
static void
job_post (SyncifyJob  *job,
          GSourceFunc  func)
{
  GMainContext *delivery = job->delivery;

  job_ref (job);
  /* The hand-off goes through GLib's (uninstrumented) context lock: read
   * @job before the release. */
  SYNCIFY_TSAN_RELEASE (job);
  syncify_post (delivery, G_PRIORITY_DEFAULT, "[syncify] asyncify completion",
                func, job, job_unref);
}

/* Called in any thread, from the caller's cancellable. */
static void
job_cancelled_cb (GCancellable *cancellable,
                  gpointer      data)
{
  SyncifyJob *job = data;

  if (syncify_pool_remove (&job->item))
    {
      g_atomic_int_set (&job->state, JOB_DROPPED);
      set_cancelled_error (&job->error);
      job_post (job, job_complete_cb);
      job_unref (job);   /* the pool's reference */
      return;
    }

  if ((job->flags & SYNCIFY_FLAGS_ABANDON_ON_CANCEL) &&
      g_atomic_int_compare_and_exchange (&job->state, JOB_RUNNING, JOB_ABANDONED))
    job_post (job, job_complete_cb);
}

/* Called in any thread, by the pool, for a job that no worker thread could
 * be started for. */
static void
job_fail (SyncifyPoolItem *item,
          GError          *error)
{
  SyncifyJob *job = (SyncifyJob *) item;

  if (!g_atomic_int_compare_and_exchange (&job->state, JOB_QUEUED, JOB_DROPPED))
    g_assert_not_reached ();
  job->error = error;
  job_post (job, job_complete_cb);
  job_unref (job);   /* the pool's reference */
}

/* Called on a worker thread. */
static void
job_run (SyncifyPoolItem *item)
{
  SyncifyJob *job = (SyncifyJob *) item;
  SyncifyContext *self = job->context;
  SyncifyThread *thread = syncify_thread_self ();
  GCancellable *func_cancellable;
  GCancellable *delivery_shutdown;

  if (!g_atomic_int_compare_and_exchange (&job->state, JOB_QUEUED, JOB_RUNNING))
    g_assert_not_reached ();

  delivery_shutdown = job->delivery_bg != NULL ? job->delivery_bg->shutdown_cancellable : NULL;

  if (g_atomic_int_get (&self->closed) ||
      (delivery_shutdown != NULL && g_cancellable_is_cancelled (delivery_shutdown)))
    {
      set_shut_down_error (&job->error);
    }
  else if (job->cancellable != NULL && g_cancellable_is_cancelled (job->cancellable))
    {
      set_cancelled_error (&job->error);
    }
  else
    {
      /* Shutdown cancels what runs: hand func a cancellable that this
       * context's shutdown, and the shutdown of the background context it
       * delivers to, cancel without touching the caller's. */
      func_cancellable = work_cancellable (self, &job->chain, job->cancellable, delivery_shutdown);
      if (job->chain.combined != NULL)
        context_track_cancel (self, &job->cancel_entry, func_cancellable);
      job->func_cancellable = func_cancellable;

      g_atomic_pointer_set (&thread->job, job);
      if (job->delivery_private)
        syncify_registry_deliverer_add (thread, job->delivery);

      job->result = job->func (job->user_data, func_cancellable, &job->error);

      if (job->delivery_private)
        syncify_registry_deliverer_remove (thread, job->delivery);
      g_atomic_pointer_set (&thread->job, NULL);

      job->result = checked_result (job->result, job->error, "SyncifyThreadFunc");

      if (job->chain.combined != NULL)
        {
          context_untrack_cancel (self, &job->cancel_entry);
          chain_clear (&job->chain);
        }
      job->func_cancellable = NULL;
    }

  /* Before the completion is posted: after it, the caller may drop the
   * context, and the pool group with it. */
  syncify_pool_item_done (&job->item);

  if (g_atomic_int_compare_and_exchange (&job->state, JOB_RUNNING, JOB_FINISHED))
    job_post (job, job_complete_cb);
  else
    job_post (job, job_late_cleanup_cb);   /* abandoned */

  job_unref (job);   /* the pool's reference */
}

/* ------------------------------------------------------------------------ *
 * GObject
 * ------------------------------------------------------------------------ */

static gpointer
background_main (gpointer data)
{
  BackgroundData *bg = data;

  SyncifyThread *thread = syncify_thread_self ();

  syncify_thread_set_name (thread, bg->name);
  thread->background = bg;

  g_main_context_push_thread_default (bg->main_context);
  /* An operation started by a call popped from the inbox just as shutdown
   * closed it still completes here before the thread leaves. */
  while (!g_atomic_int_get (&bg->stop) || g_atomic_int_get (&bg->n_inflight) > 0)
    g_main_context_iteration (bg->main_context, TRUE);
  /* Shutdown's teardown functions, here on this thread. */
  syncify_teardown_list_run (bg->teardown);
  g_main_context_pop_thread_default (bg->main_context);

  thread->background = NULL;
  background_data_unref (bg);

  return NULL;
}

static void
syncify_context_constructed (GObject *object)
{
  SyncifyContext *self = SYNCIFY_CONTEXT (object);

  G_OBJECT_CLASS (syncify_context_parent_class)->constructed (object);

  if (self->background)
    {
      BackgroundData *bg;

      if (self->name == NULL)
        self->name = g_strdup ("syncify");
      g_clear_pointer (&self->main_context, g_main_context_unref);

      /* Without a descriptor or a thread, the context is born closed:
       * every call fails with SYNCIFY_ERROR_CLOSED, and the constructors
       * report init_error. */
      if (!check_fd_available (&self->init_error))
        {
          /* No main context, no inbox: nothing gets past the closed
           * checks, and shutdown has nothing to do. */
          g_atomic_int_set (&self->closed, TRUE);
          syncify_registry_add_context (self);
          return;
        }

      self->main_context = g_main_context_new ();
      self->inbox = inbox_new (self->main_context);

      bg = g_new0 (BackgroundData, 1);
      bg->ref_count = 2;   /* the object's and the thread's */
      bg->main_context = g_main_context_ref (self->main_context);
      bg->shutdown_cancellable = g_object_ref (self->shutdown_cancellable);
      bg->name = g_strdup (self->name);
      bg->teardown = syncify_teardown_list_ref (self->teardown);
      self->bg = bg;
      self->thread = g_thread_try_new (self->name, background_main, bg, &self->init_error);
      if (self->thread == NULL)
        {
          background_data_unref (bg);   /* the thread's */
          g_atomic_int_set (&self->closed, TRUE);
          ((Inbox *) self->inbox)->closed = TRUE;
        }
    }
  else
    {
      if (self->main_context == NULL)
        self->main_context = g_main_context_ref_thread_default ();
      self->inbox = inbox_new (self->main_context);
    }

  syncify_registry_add_context (self);
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

  syncify_registry_remove_context (self);

  if (self->inbox != NULL)
    {
      g_source_destroy (self->inbox);
      g_clear_pointer (&self->inbox, g_source_unref);
    }
  g_clear_pointer (&self->thread, g_thread_unref);
  g_clear_pointer (&self->bg, background_data_unref);
  g_clear_pointer (&self->main_context, g_main_context_unref);
  g_clear_object (&self->shutdown_cancellable);
  g_clear_pointer (&self->name, g_free);
  g_clear_error (&self->init_error);
  g_clear_pointer (&self->teardown, syncify_teardown_list_unref);
  g_mutex_clear (&self->lock);

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

  syncify_i18n_init ();

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
  g_mutex_init (&self->lock);
  g_queue_init (&self->cancel_on_shutdown);
  self->shutdown_cancellable = g_cancellable_new ();
  syncify_pool_group_init (&self->group);
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
  SyncifyThread *thread = syncify_thread_self ();
  SyncifyJob *job = g_atomic_pointer_get (&thread->job);

  return job != NULL ? job->context : NULL;
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

SyncifyTeardownList *
syncify_context_peek_teardown (SyncifyContext *self)
{
  return self->teardown;
}

GMainContext *
syncify_context_peek_main_context (SyncifyContext *self)
{
  return self->main_context;
}

gboolean
syncify_context_peek_background (SyncifyContext *self)
{
  return self->background;
}

SyncifyOwnerRecord *
syncify_context_peek_owner_record (SyncifyContext *self)
{
  Inbox *inbox = (Inbox *) self->inbox;

  return inbox != NULL ? &inbox->owner : NULL;
}

SyncifyThread *
syncify_context_peek_owner (SyncifyContext *self)
{
  Inbox *inbox = (Inbox *) self->inbox;

  return inbox != NULL ? g_atomic_pointer_get (&inbox->owner.owner) : NULL;
}

char *
syncify_context_describe (SyncifyContext *self)
{
  /* The default singleton is named "default"; any other name wins. */
  if (self->name != NULL &&
      !(self->main_context == g_main_context_default () &&
        g_strcmp0 (self->name, "default") == 0))
    /* Translators: a piece of a longer message, naming a main context by
     * the name given to it */
    return g_strdup_printf (_("context \"%s\""), self->name);
  if (self->main_context == g_main_context_default ())
    /* Translators: a piece of a longer message, naming a main context
     * (e.g. "thread "main" waits on the default context, …") */
    return g_strdup (_("the default context"));
  /* Translators: a piece of a longer message, naming an unnamed main
   * context by its address */
  return g_strdup_printf (_("context %p"), (gpointer) self);
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
  Inbox *inbox;
  GQueue stolen = G_QUEUE_INIT;
  g_autoptr(GPtrArray) to_cancel = NULL;
  GList *jobs;
  GThread *thread = NULL;

  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));

  if (!g_atomic_int_compare_and_exchange (&self->closed, FALSE, TRUE))
    return;

  g_object_ref (self);

  /* Calls that have not started: answer them. */
  inbox = (Inbox *) self->inbox;
  syncify_mutex_lock (&inbox->lock);
  inbox->closed = TRUE;
  stolen = inbox->queue;
  g_queue_init (&inbox->queue);
  /* Ours now: a cancellable firing from here on must leave them to us. */
  for (GList *l = stolen.head; l != NULL; l = l->next)
    g_atomic_int_set (&((Call *) l->data)->state, CALL_STARTED);
  syncify_mutex_unlock (&inbox->lock);

  for (GList *l = stolen.head, *next; l != NULL; l = next)
    {
      Call *call = l->data;

      next = l->next;
      l->prev = l->next = NULL;
      set_shut_down_error (&call->error);
      call_end_unstarted (call);
    }

  /* Jobs that have not started. */
  jobs = syncify_pool_group_drain (&self->group);
  for (GList *l = jobs; l != NULL; l = l->next)
    {
      SyncifyJob *job = l->data;

      g_atomic_int_set (&job->state, JOB_DROPPED);
      set_shut_down_error (&job->error);
      job_post (job, job_complete_cb);
      job_unref (job);   /* the pool's reference */
    }
  g_list_free (jobs);

  /* Work that runs: cancel it, outside our lock. */
  to_cancel = g_ptr_array_new_with_free_func (g_object_unref);
  syncify_mutex_lock (&self->lock);
  for (GList *l = self->cancel_on_shutdown.head; l != NULL; l = l->next)
    {
      CancelEntry *entry = l->data;
      g_ptr_array_add (to_cancel, g_object_ref (entry->cancellable));
    }
  if (self->bg != NULL)
    background_stop (self->bg);   /* it keeps running until nothing is in flight */
  /* Whoever takes the thread joins (or detaches) it, once. */
  thread = g_steal_pointer (&self->thread);
  syncify_mutex_unlock (&self->lock);

  g_cancellable_cancel (self->shutdown_cancellable);
  for (guint i = 0; i < to_cancel->len; i++)
    g_cancellable_cancel (to_cancel->pdata[i]);

  /* No thread of its own to run the teardown functions: run them here. */
  if (thread == NULL)
    syncify_teardown_list_run (self->teardown);

  if (thread != NULL)
    {
      if (thread == g_thread_self ())
        {
          /* Never join from the context's own thread: it leaves the loop
           * when this callback returns, and exits on its own. */
          g_thread_unref (thread);
        }
      else
        {
          SyncifyThread *me = syncify_thread_self ();
          SyncifyWaitState saved;
          g_autoptr(GError) error = NULL;

          /* Joining is a wait on the background thread: registered like
           * one, so an operation there that pushes back to a context this
           * thread owns fails with WOULD_DEADLOCK instead of hanging. */
          if (wait_begin (me, SYNCIFY_WAIT_PUSH, self->main_context, self,
                          &saved, &error))
            {
              syncify_pool_block_begin ();
              g_thread_join (thread);
              syncify_pool_block_end ();
              syncify_wait_end (me, &saved);
            }
          else
            {
              /* Its thread is already blocked on us: joining would hang.
               * Let it finish and exit on its own. */
              g_debug ("Not joining the thread of %s: %s", self->name, error->message);
              g_thread_unref (thread);
            }
        }
    }

  g_object_unref (self);
}

/* ------------------------------------------------------------------------ *
 * Blocking calls
 * ------------------------------------------------------------------------ */

typedef enum {
  ROUTE_PUSH,    /* another thread runs the context: hand the work over */
  ROUTE_LOCAL,   /* this thread owns it, or nobody runs it */
} Route;

/* @target may be NULL (plain sync code, no context). When ROUTE_LOCAL is
 * chosen because nobody runs the context and @acquire is set, the context
 * is acquired on return (and *acquired set) so that it stays so. */
static Route
choose_route (SyncifyContext *target,
              SyncifyJob     *job,
              gboolean        acquire,
              gboolean       *acquired)
{
  GMainContext *mc;
  SyncifyThread *owner;

  if (acquired != NULL)
    *acquired = FALSE;

  if (target == NULL)
    return ROUTE_LOCAL;

  mc = target->main_context;

  if (g_main_context_is_owner (mc))
    return ROUTE_LOCAL;

  if (target->background)
    return ROUTE_PUSH;

  if (job != NULL && job->context->main_context == mc)
    return ROUTE_PUSH;

  /* A live thread iterates it, and may only be between two iterations
   * (g_main_context_iteration() releases the context in between): the
   * work waits for that thread. */
  owner = syncify_context_peek_owner (target);
  if (owner != NULL && owner != syncify_thread_self ())
    return ROUTE_PUSH;

  if (g_main_context_acquire (mc))
    {
      if (acquire)
        *acquired = TRUE;
      else
        g_main_context_release (mc);
      return ROUTE_LOCAL;
    }

  return ROUTE_PUSH;
}

/* Called under the registry lock for each context that the thread about to
 * block owns: workers waiting on it cannot be served until that wait ends,
 * which may need jobs of theirs, so their slots are lent. */
static void
lend_owned_waiters (gpointer data,
                    gpointer user_data)
{
  SyncifyOwnerRecord *record = data;
  Inbox *inbox = (Inbox *) ((char *) record - G_STRUCT_OFFSET (Inbox, owner));

  syncify_mutex_lock (&inbox->lock);
  for (GList *l = inbox->queue.head; l != NULL; l = l->next)
    {
      Call *call = l->data;

      if (call->waiter != NULL)
        syncify_thread_lend_slot (call->waiter);
    }
  syncify_mutex_unlock (&inbox->lock);
  /* Only this thread, the owner, touches the running list. */
  for (Call *call = inbox->running; call != NULL; call = call->outer)
    syncify_thread_lend_slot (call->waiter);
}

/* syncify_wait_begin(), then the lending that goes with blocking. */
static gboolean
wait_begin (SyncifyThread    *thread,
            SyncifyWaitKind   kind,
            GMainContext     *target,
            SyncifyContext   *context,
            SyncifyWaitState *saved,
            GError          **error)
{
  if (!syncify_wait_begin (thread, kind, target, context, saved, error))
    return FALSE;

  syncify_thread_foreach_owned (thread, lend_owned_waiters, NULL);
  return TRUE;
}

static void
set_closed_error (GError         **error,
                  SyncifyContext  *target)
{
  g_autofree char *what = syncify_context_describe (target);

  g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED,
               _("Cannot run work on %s: it was shut down"), what);
}

/* Called in any thread, from the cancellable handed to a queued call. */
static void
sync_call_cancelled_cb (GCancellable *cancellable,
                        gpointer      data)
{
  Call *call = data;

  if (inbox_remove (call->inbox, call))
    {
      set_cancelled_error (&call->error);
      call_wake_waiter (call);
    }
}

/* Pushes @call to @self's owner and blocks until it is done. */
static gpointer
push_and_wait (SyncifyContext  *self,
               Call            *call,
               GError         **error)
{
  SyncifyThread *thread = syncify_thread_self ();
  SyncifyWaitState saved;
  gulong handler = 0;
  /* The caller may hold no reference on @self: once the call is answered,
   * the context may be finalized (its last unref cancelled the call), so
   * nothing of it is touched after the push but the inbox, which this
   * keeps alive. */
  gboolean withdrawable = call->cancellable != NULL &&
                          call->cancellable != self->shutdown_cancellable;

  if (!wait_begin (thread, SYNCIFY_WAIT_PUSH, self->main_context, self,
                   &saved, error))
    return NULL;

  syncify_pool_block_begin ();
  /* An owner blocked in the library serves this call only when its own
   * wait ends, which may need jobs that need this worker's slot. */
  if (thread->wait.owner_blocked)
    syncify_pool_lend_current ();

  call->context = self;
  call->inbox = (Inbox *) g_source_ref (self->inbox);
  call->waiter = thread;
  call->result = NULL;
  call->error = NULL;

  if (!inbox_push (self, call))
    {
      g_source_unref ((GSource *) g_steal_pointer (&call->inbox));
      syncify_pool_block_end ();
      syncify_wait_end (thread, &saved);
      set_closed_error (error, self);
      return NULL;
    }

  /* Withdraw the call if cancelled while queued. (Shutdown withdraws queued
   * calls itself: no handler on the shared shutdown cancellable.) */
  if (withdrawable)
    handler = g_cancellable_connect (call->cancellable,
                                     G_CALLBACK (sync_call_cancelled_cb),
                                     call, NULL);

  while (g_atomic_int_get (&call->state) != CALL_DONE)
    syncify_thread_wait (thread);

  if (handler != 0)
    g_cancellable_disconnect (call->cancellable, handler);
  g_source_unref ((GSource *) g_steal_pointer (&call->inbox));

  syncify_pool_block_end ();
  syncify_wait_end (thread, &saved);

  if (call->error != NULL)
    {
      g_propagate_error (error, call->error);
      return NULL;
    }

  return call->result;
}

typedef struct {
  SyncifyFinishFunc  finish;
  gpointer           user_data;
  gpointer           result;
  GError            *error;
  gboolean           done;
} PrivateOp;

static void
private_op_ready (GObject      *source_object,
                  GAsyncResult *result,
                  gpointer      data)
{
  PrivateOp *op = data;

  op->result = op->finish (source_object, result, op->user_data, &op->error);
  op->result = checked_result (op->result, op->error, "SyncifyFinishFunc");
  op->done = TRUE;
}

static gpointer
run_private (SyncifyThread     *thread,
             SyncifyStartFunc   start,
             SyncifyFinishFunc  finish,
             gpointer           user_data,
             GCancellable      *cancellable,
             GError           **error)
{
  PrivateOp op = { finish, user_data, NULL, NULL, FALSE };
  SyncifyWaitState saved;
  GMainContext *private_context;

  if (thread->private_context == NULL)
    {
      /* GLib aborts when it cannot make the context's wake-up fd. */
      if (!check_fd_available (error))
        return NULL;
      thread->private_context = g_main_context_new ();
    }
  private_context = thread->private_context;

  if (!wait_begin (thread, SYNCIFY_WAIT_PRIVATE, private_context, NULL,
                   &saved, error))
    return NULL;

  syncify_pool_block_begin ();
  /* The operation may need jobs of this worker's own context. */
  syncify_pool_lend_current ();
  g_main_context_push_thread_default (private_context);

  start (user_data, cancellable, private_op_ready, &op);
  while (!op.done)
    g_main_context_iteration (private_context, TRUE);

  g_main_context_pop_thread_default (private_context);
  syncify_pool_block_end ();
  syncify_wait_end (thread, &saved);

  if (op.error != NULL)
    {
      g_propagate_error (error, op.error);
      return NULL;
    }

  return op.result;
}

static void
set_not_in_worker_error (GError         **error,
                         SyncifyContext  *target,
                         SyncifyThread   *thread)
{
  if (target == NULL)
    {
      g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER,
                   _("syncify was called on thread \"%s\" with no context, outside "
                     "any asyncify worker: no other thread can run the operation. "
                     "Pass SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT to run it on this "
                     "thread in a private main context"),
                   syncify_thread_get_name (thread));
    }
  else
    {
      g_autofree char *what = syncify_context_describe (target);

      if (g_main_context_is_owner (target->main_context) ||
          syncify_context_peek_owner (target) == thread)
        g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER,
                     _("syncify was called on thread \"%s\", which runs %s itself: "
                       "blocking here would stop it. Pass "
                       "SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT to run the operation in "
                       "a private main context, or call it from a worker"),
                     syncify_thread_get_name (thread), what);
      else
        g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER,
                     _("syncify was called on thread \"%s\" for %s, which no other "
                       "thread runs. Pass SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT to run "
                       "the operation on this thread in a private main context"),
                     syncify_thread_get_name (thread), what);
    }
}

/**
 * syncify_context_syncify: (skip)
 * @self: (nullable): the context that owns the operation's objects, or
 *   %NULL for the calling worker's context (see
 *   [func@Syncify.Context.get_current])
 * @flags: %SYNCIFY_FLAGS_NONE or %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT
 * @start: (scope call) (closure user_data): starts the operation, like an
 *   `_async` GIO call
 * @finish: (scope call) (closure user_data): completes it, like a callback
 *   calling `_finish`
 * @user_data: data for @start and @finish
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @start
 * @error: return location for a [struct@GLib.Error]
 *
 * Runs an asynchronous operation from blocking code and waits for its result:
 * the counterpart of Asyncer's `syncify()`.
 *
 * 1. When the calling thread is a worker of @self, or another thread owns
 *    @self's main context (it is being iterated there; for a background
 *    context, always), the operation is *pushed*: @start runs on the owner,
 *    with @self's main context as thread-default, @finish runs there inside
 *    the completion callback, and the calling thread blocks until then.
 * 2. Otherwise (the calling thread owns @self's main context, nobody runs it,
 *    or @self is %NULL outside a worker): without
 *    %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT this fails at once with
 *    %SYNCIFY_ERROR_NOT_IN_WORKER and runs nothing. With it, @start runs on
 *    the calling thread with a private main context pushed as thread-default,
 *    which is iterated until the operation completes. The private context is
 *    the calling thread's own and is reused by later calls (so calling this
 *    in a loop costs no new main context per call); nested calls work.
 * 3. Before blocking in case 1, if the owner is itself blocked in this
 *    library waiting, directly or through a chain of threads, on the calling
 *    thread, this fails with %SYNCIFY_ERROR_WOULD_DEADLOCK, whose message
 *    names the cycle, instead of hanging.
 *
 * @cancellable is handed to @start. When the calling thread is an asyncify
 * worker, cancelling the worker's own cancellable cancels the operation too,
 * and so does shutting @self down. The call always waits for the operation
 * to complete (it owns @user_data until then), so a cancelled call returns
 * once the operation honours the cancellation. If the cancellation comes
 * before @start ran, @start never runs and the call fails with
 * %G_IO_ERROR_CANCELLED.
 *
 * Returns: (transfer full) (nullable): what @finish returned; %NULL with
 *   @error unset is a valid success
 *
 * Language bindings use [method@Syncify.Context.await_operation] instead.
 *
 * Since: 1.0
 */
gpointer
syncify_context_syncify (SyncifyContext     *self,
                         SyncifyFlags        flags,
                         SyncifyStartFunc    start,
                         SyncifyFinishFunc   finish,
                         gpointer            user_data,
                         GCancellable       *cancellable,
                         GError            **error)
{
  SyncifyThread *thread;
  SyncifyJob *job;
  SyncifyContext *target;
  GCancellable *job_cancellable;

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (start != NULL, NULL);
  g_return_val_if_fail (finish != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  thread = syncify_thread_self ();
  job = g_atomic_pointer_get (&thread->job);
  target = self != NULL ? self : (job != NULL ? job->context : NULL);
  job_cancellable = job != NULL ? job->func_cancellable : NULL;

  if (target != NULL && g_atomic_int_get (&target->closed))
    {
      set_closed_error (error, target);
      return NULL;
    }

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  if (choose_route (target, job, FALSE, NULL) == ROUTE_PUSH)
    {
      Call call = { { 0, }, };
      gpointer result;

      call.kind = CALL_SYNCIFY;
      call.start = start;
      call.finish = finish;
      call.user_data = user_data;
      /* Cancelled by the target's shutdown (the owner tracks it), and by
       * the caller's and the worker's cancellables. */
      call.cancellable = work_cancellable (target, &call.chain, cancellable, job_cancellable);
      result = push_and_wait (target, &call, error);
      chain_clear (&call.chain);
      return result;
    }

  if (!(flags & SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT))
    {
      set_not_in_worker_error (error, target, thread);
      return NULL;
    }

  {
    /* The operation runs on this thread's private context, not on the
     * target's: it gets the caller's cancellable as it is (or the
     * worker's, or one that follows both), and the target's shutdown
     * does not touch it. */
    Chain chain;
    GCancellable *effective = chain_init (&chain, cancellable, job_cancellable, FALSE);
    gpointer result = run_private (thread, start, finish, user_data, effective, error);

    chain_clear (&chain);
    return result;
  }
}

/**
 * syncify_context_invoke_sync: (skip)
 * @self: (nullable): the context to run @func on, or %NULL for the calling
 *   worker's context
 * @func: (scope call) (closure user_data): the function to run
 * @user_data: data for @func
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @func
 * @error: return location for a [struct@GLib.Error]
 *
 * Runs a plain function on the owner of @self and waits for its result: the
 * counterpart of AnyIO's `from_thread.run_sync()`.
 *
 * When the calling thread is a worker of @self, or another thread owns its
 * main context (for a background context, always), @func is pushed there and
 * the calling thread blocks until it has run. When the calling thread owns
 * the main context, or nobody runs it (or @self is %NULL outside a worker),
 * @func runs inline, as [method@GLib.MainContext.invoke] does, with the main
 * context acquired while it runs. The deadlock rule of
 * [method@Syncify.Context.syncify] applies.
 *
 * If @cancellable fires before @func started, it never runs and the call
 * fails with %G_IO_ERROR_CANCELLED.
 *
 * Returns: (transfer full) (nullable): what @func returned; %NULL with
 *   @error unset is a valid success
 *
 * Language bindings use [method@Syncify.Context.invoke_variant] instead.
 *
 * Since: 1.0
 */
gpointer
syncify_context_invoke_sync (SyncifyContext     *self,
                             SyncifyThreadFunc   func,
                             gpointer            user_data,
                             GCancellable       *cancellable,
                             GError            **error)
{
  SyncifyThread *thread;
  SyncifyJob *job;
  SyncifyContext *target;
  GCancellable *job_cancellable;
  gboolean acquired;
  Chain chain;
  GCancellable *effective;
  gpointer result;

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  thread = syncify_thread_self ();
  job = g_atomic_pointer_get (&thread->job);
  target = self != NULL ? self : (job != NULL ? job->context : NULL);
  job_cancellable = job != NULL ? job->func_cancellable : NULL;

  if (target != NULL && g_atomic_int_get (&target->closed))
    {
      set_closed_error (error, target);
      return NULL;
    }

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  if (choose_route (target, job, TRUE, &acquired) == ROUTE_PUSH)
    {
      Call call = { { 0, }, };

      call.kind = CALL_INVOKE;
      call.func = func;
      call.user_data = user_data;
      /* Cancelled by the target's shutdown (the owner tracks it while the
       * function runs), and by the caller's and the worker's cancellables. */
      call.cancellable = work_cancellable (target, &chain, cancellable, job_cancellable);
      result = push_and_wait (target, &call, error);
    }
  else
    {
      GError *local_error = NULL;
      CancelEntry entry;
      gboolean took_owner;

      /* Run here for a context: its shutdown cancels the function too. */
      if (target != NULL)
        {
          effective = work_cancellable (target, &chain, cancellable, job_cancellable);
          if (chain.combined != NULL)
            context_track_cancel (target, &entry, effective);
        }
      else
        effective = chain_init (&chain, cancellable, job_cancellable, FALSE);

      /* Running a context's work, this thread owns it meanwhile (and for
       * good if it did before). */
      took_owner = acquired && syncify_context_peek_owner (target) == NULL;
      if (took_owner)
        syncify_owner_record_set (&((Inbox *) target->inbox)->owner, thread);

      result = func (user_data, effective, &local_error);

      if (target != NULL && chain.combined != NULL)
        context_untrack_cancel (target, &entry);
      if (took_owner)
        syncify_owner_record_clear (&((Inbox *) target->inbox)->owner);
      if (acquired)
        g_main_context_release (target->main_context);
      result = checked_result (result, local_error, "SyncifyThreadFunc");
      if (local_error != NULL)
        g_propagate_error (error, local_error);
    }

  chain_clear (&chain);
  return result;
}

/* ------------------------------------------------------------------------ *
 * asyncify
 * ------------------------------------------------------------------------ */

/**
 * syncify_context_asyncify: (skip)
 * @self: the context the worker belongs to
 * @flags: %SYNCIFY_FLAGS_NONE or %SYNCIFY_FLAGS_ABANDON_ON_CANCEL
 * @func: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   the blocking function to run in a worker thread
 * @user_data: data for @func
 * @user_data_destroy: (nullable): frees @user_data once @func is done with it
 * @result_destroy: (nullable): frees a result nobody claimed
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @func
 * @callback: (scope async) (closure callback_data): called when the job is
 *   done
 * @callback_data: data for @callback
 *
 * Runs the blocking function @func in a worker thread, never on the calling
 * thread, and delivers its result as an ordinary GIO asynchronous result:
 * @callback runs in the calling thread's thread-default main context (as for
 * every GIO call), and calls [method@Syncify.Context.asyncify_finish]. The
 * counterpart of Asyncer's `asyncify()`.
 *
 * The worker belongs to @self: inside @func,
 * [func@Syncify.Context.get_current] returns @self, and
 * [method@Syncify.Context.syncify] or [method@Syncify.Context.invoke_sync]
 * with a %NULL context push to @self. At most
 * [property@Syncify.Context:max-workers] of @self's jobs run at once; the
 * others wait, in order.
 *
 * Cancellation is cooperative: @func is handed a cancellable that fires when
 * @cancellable does (or @self is shut down), and is expected to honour it.
 * A job whose @cancellable fires before it started never runs @func. With
 * %SYNCIFY_FLAGS_ABANDON_ON_CANCEL, the job completes with
 * %G_IO_ERROR_CANCELLED as soon as @cancellable fires; @func keeps running,
 * and its late result is freed with @result_destroy.
 *
 * Ownership: @user_data_destroy runs exactly once, in the caller's
 * thread-default main context: after @func returned, or when the job ended
 * before it started (cancelled, or @self shut down). @result_destroy frees
 * the result if it is never claimed by a successful finish, including the
 * late result of an abandoned job (also in the caller's context).
 *
 * Language bindings use [method@Syncify.Context.asyncify_variant] instead.
 *
 * Since: 1.0
 */
void
syncify_context_asyncify (SyncifyContext      *self,
                          SyncifyFlags         flags,
                          SyncifyThreadFunc    func,
                          gpointer             user_data,
                          GDestroyNotify       user_data_destroy,
                          GDestroyNotify       result_destroy,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             callback_data)
{
  SyncifyJob *job;

  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (func != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  job = g_new0 (SyncifyJob, 1);
  job->ref_count = 1;     /* the pool's */
  job->state = JOB_QUEUED;
  job->context = self;
  job->task = g_task_new (self, cancellable, callback, callback_data);
  g_task_set_source_tag (job->task, syncify_context_asyncify);
  job->delivery = g_task_get_context (job->task);
  job->delivery_private = syncify_thread_self ()->private_context == job->delivery;
  /* Delivered to a background context: held until the task delivered, and
   * until the job is freed (an abandoned job delivers its late result). */
  task_hold_delivery (job->task);
  job->delivery_bg = delivery_hold (job->delivery);
  job->flags = flags;
  job->func = func;
  job->user_data = user_data;
  job->user_data_destroy = user_data_destroy;
  job->result_destroy = result_destroy;
  job->item.group = &self->group;
  job->item.run = job_run;
  job->item.fail = job_fail;

  if (g_atomic_int_get (&self->closed))
    {
      set_closed_error (&job->error, self);
      g_atomic_int_set (&job->state, JOB_DROPPED);
      job_post (job, job_complete_cb);
      job_unref (job);
      return;
    }

  if (cancellable != NULL)
    {
      job->cancellable = g_object_ref (cancellable);
      /* Connected before the job is queued; a cancellable that has already
       * fired runs the handler now, which finds nothing queued, and the job
       * then ends at once when a worker takes it. */
      job->cancel_handler = g_cancellable_connect (cancellable,
                                                   G_CALLBACK (job_cancelled_cb),
                                                   job_ref (job), job_unref);
    }

  syncify_pool_push (&job->item);
}

/**
 * syncify_context_asyncify_finish: (skip)
 * @self: a `SyncifyContext`
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Gets the result of [method@Syncify.Context.asyncify].
 *
 * Returns: (transfer full) (nullable): what the function returned; %NULL with
 *   @error unset is a valid success
 *
 * Language bindings use [method@Syncify.Context.asyncify_variant_finish] instead.
 *
 * Since: 1.0
 */
gpointer
syncify_context_asyncify_finish (SyncifyContext  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == syncify_context_asyncify, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------------ *
 * call_async
 * ------------------------------------------------------------------------ */

/* Called in any thread, from the call's cancellable. */
static void
async_call_cancelled_cb (GCancellable *cancellable,
                         gpointer      data)
{
  Call *call = data;

  if (inbox_remove ((Inbox *) call->context->inbox, call))
    {
      set_cancelled_error (&call->error);
      /* Not here: the handler cannot disconnect itself. */
      async_call_complete_later (call);
    }
}

/**
 * syncify_context_call_async: (skip)
 * @self: the context to run the operation on
 * @start: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   starts the operation, like an `_async` GIO call
 * @finish: (scope notified) (closure user_data): completes it, like a
 *   callback calling `_finish`
 * @user_data: data for @start and @finish
 * @user_data_destroy: (nullable): frees @user_data once the operation is done
 * @result_destroy: (nullable): frees a result nobody claimed
 * @cancellable: (nullable): a [class@Gio.Cancellable] to cancel the operation
 * @callback: (scope async) (closure callback_data): called with the result
 * @callback_data: data for @callback
 *
 * Runs an asynchronous operation on @self's owner and delivers its result to
 * @callback in the calling thread's thread-default main context: Flyte's
 * `.aio()`. For a background context, @start and @finish run on its thread,
 * so objects bound to that thread's loop may be used by them. Called on the
 * owner itself, it simply starts the operation.
 *
 * Cancelling @cancellable cancels the operation (the cancellable @start is
 * given fires), or, if it has not started yet, completes the call with
 * %G_IO_ERROR_CANCELLED without starting it.
 *
 * @user_data_destroy runs exactly once: on the owner right after @finish, or,
 * if the operation never started, in the caller's thread-default main
 * context (on the calling thread if @self was already shut down).
 *
 * Language bindings use [method@Syncify.Context.await_operation_async] instead.
 *
 * Since: 1.0
 */
void
syncify_context_call_async (SyncifyContext      *self,
                            SyncifyStartFunc     start,
                            SyncifyFinishFunc    finish,
                            gpointer             user_data,
                            GDestroyNotify       user_data_destroy,
                            GDestroyNotify       result_destroy,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             callback_data)
{
  g_return_if_fail (SYNCIFY_IS_CONTEXT (self));
  g_return_if_fail (start != NULL);
  g_return_if_fail (finish != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  syncify_call_async_internal (self, G_OBJECT (self), syncify_context_call_async,
                               start, finish, user_data, user_data_destroy,
                               result_destroy, cancellable, callback, callback_data);
}

/* call_async with the task's source object and tag given: the task is the
 * caller's own result (see syncify_await_full_async()). */
void
syncify_call_async_internal (SyncifyContext      *self,
                             GObject             *source_object,
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
  Call *call;

  call = g_new0 (Call, 1);
  call->kind = CALL_ASYNC;
  call->context = self;
  call->start = start;
  call->finish = finish;
  call->user_data = user_data;
  call->user_data_destroy = user_data_destroy;
  call->result_destroy = result_destroy;
  call->task = g_task_new (source_object, cancellable, callback, callback_data);
  g_task_set_source_tag (call->task, source_tag);
  /* The task holds the context when it is the source object. */
  if (source_object != G_OBJECT (self))
    call->context_ref = g_object_ref (self);

  if (g_atomic_int_get (&self->closed))
    {
      set_closed_error (&call->error, self);
      async_call_complete (call);
      return;
    }

  /* Ours, so shutdown can cancel it without touching the caller's. When
   * the result goes to a background context (called on its thread), that
   * context's shutdown cancels it too, and its loop runs until the result
   * is delivered. */
  {
    BackgroundData *delivery_bg = delivery_background (g_task_get_context (call->task));

    call->cancellable = chain_init (&call->chain, cancellable,
                                    delivery_bg != NULL ? delivery_bg->shutdown_cancellable : NULL,
                                    TRUE);
    task_hold_delivery (call->task);
  }

  if (g_main_context_is_owner (self->main_context))
    {
      g_atomic_int_set (&call->state, CALL_STARTED);
      call_run (call);
      return;
    }

  /* Connected before the push, while nothing else can see @call. If the
   * cancellable already fired, the handler finds nothing queued; the owner
   * then sees it cancelled and does not start the operation. */
  call->cancel_handler = g_cancellable_connect (call->chain.combined,
                                                G_CALLBACK (async_call_cancelled_cb),
                                                call, NULL);

  if (!inbox_push (self, call))
    {
      set_closed_error (&call->error, self);
      async_call_complete (call);
      return;
    }
}

/**
 * syncify_context_call_finish: (skip)
 * @self: a `SyncifyContext`
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Gets the result of [method@Syncify.Context.call_async].
 *
 * Returns: (transfer full) (nullable): what the finish function returned;
 *   %NULL with @error unset is a valid success
 *
 * Language bindings use [method@Syncify.Context.await_operation_finish] instead.
 *
 * Since: 1.0
 */
gpointer
syncify_context_call_finish (SyncifyContext  *self,
                             GAsyncResult    *result,
                             GError         **error)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == syncify_context_call_async, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
