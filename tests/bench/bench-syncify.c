/* bench-syncify.c: syncify-glib side by side with hand-written GLib
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every case runs the library's way (A) and the best hand-written GLib way
 * of doing the same work (B) interleaved, A B A B ..., each run doing N
 * operations. The line printed for a case gives the median of A's and of
 * B's values per operation, and the median of the per-pair ratios A/B, which
 * is what the targets are about: absolute times drift between runs and
 * machines, the ratio of two runs made side by side much less.
 *
 *   bench-syncify [--quick] [--pin] [--check] [--case GLOB[,GLOB...]] [--plot DIR]
 *   bench-syncify --case NAME --side lib|base --iterations N   (one side, once)
 *
 * --pin pins the whole process to one CPU before any thread exists (thread
 * hops on small VMs are bimodal when unpinned). --check runs every case once
 * with small counts and only verifies that each computed the right results.
 * Timing is never asserted: the exit status only says whether every case
 * computed what it should, never whether a target was met.
 *
 * Every wait is bounded by the watchdog of ../test-util.h, armed around each
 * run: a case that hangs aborts the program loudly instead.
 */

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <syncify-glib/syncify-glib.h>

#include "../test-util.h"
#include "bench-alloc.h"

/* ------------------------------------------------------------------------ *
 * Options and small helpers
 * ------------------------------------------------------------------------ */

static gboolean opt_quick;
static gboolean opt_check;
static gboolean opt_pin;
static gboolean opt_verbose;
static gboolean opt_list;
static char    *opt_case;
static char    *opt_side;
static gint64   opt_iterations;
static gint     opt_pairs;
static char    *opt_plot;

static const GOptionEntry options[] = {
  { "quick", 'q', 0, G_OPTION_ARG_NONE, &opt_quick, "Fewer pairs and operations (under a minute)", NULL },
  { "check", 0, 0, G_OPTION_ARG_NONE, &opt_check, "Run every case once, small, and only check its results", NULL },
  { "pin", 0, 0, G_OPTION_ARG_NONE, &opt_pin, "Pin the process (all its threads) to one CPU", NULL },
  { "case", 'c', 0, G_OPTION_ARG_STRING, &opt_case, "Only the cases matching these comma-separated globs", "GLOB" },
  { "side", 0, 0, G_OPTION_ARG_STRING, &opt_side, "Run one side of one case once (for callgrind, perf)", "lib|base" },
  { "iterations", 'n', 0, G_OPTION_ARG_INT64, &opt_iterations, "Operations per run (default: per case)", "N" },
  { "pairs", 'p', 0, G_OPTION_ARG_INT, &opt_pairs, "Interleaved pairs per case (default: 7, quick 3)", "N" },
  { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose, "Print every run of every pair", NULL },
  { "list", 'l', 0, G_OPTION_ARG_NONE, &opt_list, "List the cases", NULL },
  { "plot", 0, 0, G_OPTION_ARG_FILENAME, &opt_plot, "Write the scale cases' points to DIR/scale-pinned.csv or scale-unpinned.csv (see plot-scale.sh)", "DIR" },
  G_OPTION_ENTRY_NULL
};

static inline gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

/* The inputs and outputs of one run of one side. */
typedef struct {
  guint64  n;        /* operations */
  double   value;    /* per operation: ns, bytes or allocations; or a total */
  GString *error;    /* what was wrong with the results; empty if nothing */
  GString *note;     /* informative remarks */
} RunArgs;

static void run_fail (RunArgs    *a,
                      const char *format,
                      ...) G_GNUC_PRINTF (2, 3);

/* Keeps the first failure of a run. Callable from any thread, but only one
 * thread of a run fails at a time (the run's threads are joined or have
 * handed over before the main thread reads it). */
static GMutex fail_lock;

static void
run_fail (RunArgs    *a,
          const char *format,
          ...)
{
  va_list args;

  g_mutex_lock (&fail_lock);
  if (a->error->len == 0)
    {
      va_start (args, format);
      g_string_append_vprintf (a->error, format, args);
      va_end (args);
    }
  g_mutex_unlock (&fail_lock);
}

static void run_note (RunArgs    *a,
                      const char *format,
                      ...) G_GNUC_PRINTF (2, 3);

/* Adds an informative remark, once however many runs make it. */
static void
run_note (RunArgs    *a,
          const char *format,
          ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);

  if (strstr (a->note->str, text) == NULL)
    g_string_append_printf (a->note, "%s; ", text);
}

static void
run_fail_error (RunArgs    *a,
                const char *what,
                GError    **error)
{
  run_fail (a, "%s: %s", what, (*error)->message);
  g_clear_error (error);
}

/* ------------------------------------------------------------------------ *
 * What is pushed: a plain function and a GTask operation
 * ------------------------------------------------------------------------ */

/* The state a pushed function or operation works on. Only the owner thread
 * touches @count and @wrong_thread while work runs; the callers read them
 * after the work handed back. */
typedef struct {
  GThread *owner;         /* the thread the work must run on */
  guint    count;
  guint    wrong_thread;
} PushTarget;

static gpointer
push_func (gpointer       user_data,
           GCancellable  *cancellable,
           GError       **error)
{
  PushTarget *t = user_data;

  if G_UNLIKELY (g_thread_self () != t->owner)
    t->wrong_thread++;

  return GUINT_TO_POINTER (++t->count);
}

static gboolean
op_idle_cb (gpointer data)
{
  GTask *task = data;
  PushTarget *t = g_task_get_task_data (task);

  if G_UNLIKELY (g_thread_self () != t->owner)
    t->wrong_thread++;

  g_task_return_pointer (task, GUINT_TO_POINTER (++t->count), NULL);
  return G_SOURCE_REMOVE;
}

/* An asynchronous operation as GIO writes them: a GTask completed from an
 * idle source on the calling thread's thread-default main context. */
static void
op_start (gpointer             user_data,
          GCancellable        *cancellable,
          GAsyncReadyCallback  callback,
          gpointer             callback_data)
{
  PushTarget *t = user_data;
  GTask *task = g_task_new (NULL, cancellable, callback, callback_data);
  GMainContext *context = g_main_context_ref_thread_default ();
  GSource *source = g_idle_source_new ();

  if G_UNLIKELY (g_thread_self () != t->owner)
    t->wrong_thread++;

  g_task_set_task_data (task, t, NULL);
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, op_idle_cb, task, g_object_unref);
  g_source_attach (source, context);
  g_source_unref (source);
  g_main_context_unref (context);
}

static gpointer
op_finish (GObject       *source_object,
           GAsyncResult  *result,
           gpointer       user_data,
           GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------------ *
 * The hand-written way: a thread running a GMainLoop on its own
 * GMainContext, g_main_context_invoke_full(), and a GMutex/GCond
 * ------------------------------------------------------------------------ */

typedef struct {
  GMainContext *context;
  GMainLoop    *loop;
  GThread      *thread;
} LoopThread;

/* One per calling thread, reused by every call it makes: signalling after
 * unlocking is only safe when the GCond outlives the call. */
typedef struct {
  GMutex  lock;
  GCond   cond;
  guint64 seq;        /* only touched by the calling thread */
  guint64 done_seq;   /* protected by @lock */
} Waiter;

typedef struct {
  Waiter            *waiter;
  guint64            seq;
  gboolean           unlock_first;
  SyncifyThreadFunc  func;
  SyncifyStartFunc   start;
  SyncifyFinishFunc  finish;
  gpointer           user_data;
  gpointer           result;
  GError            *error;
} HwCall;

static void
waiter_init (Waiter *w)
{
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  w->seq = 0;
  w->done_seq = 0;
}

static void
waiter_clear (Waiter *w)
{
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
}

/* On the loop thread. Nothing touches @c after the lock is dropped: the
 * caller may return at once, and @c lives on its stack. */
static void
hw_call_done (HwCall *c)
{
  Waiter *w = c->waiter;

  g_mutex_lock (&w->lock);
  w->done_seq = c->seq;
  if (c->unlock_first)
    {
      g_mutex_unlock (&w->lock);
      g_cond_signal (&w->cond);
    }
  else
    {
      g_cond_signal (&w->cond);
      g_mutex_unlock (&w->lock);
    }
}

static gboolean
hw_invoke_cb (gpointer data)
{
  HwCall *c = data;

  c->result = c->func (c->user_data, NULL, &c->error);
  hw_call_done (c);
  return G_SOURCE_REMOVE;
}

static void
hw_op_ready (GObject      *source_object,
             GAsyncResult *result,
             gpointer      data)
{
  HwCall *c = data;

  c->result = c->finish (source_object, result, c->user_data, &c->error);
  hw_call_done (c);
}

static gboolean
hw_start_cb (gpointer data)
{
  HwCall *c = data;

  c->start (c->user_data, NULL, hw_op_ready, c);
  return G_SOURCE_REMOVE;
}

/* Waits unbounded: the watchdog armed around every run is the bound. */
static gpointer
hw_call_wait (HwCall  *c,
              GError **error)
{
  Waiter *w = c->waiter;

  g_mutex_lock (&w->lock);
  while (w->done_seq != c->seq)
    g_cond_wait (&w->cond, &w->lock);
  g_mutex_unlock (&w->lock);

  if (c->error != NULL)
    {
      g_propagate_error (error, c->error);
      return NULL;
    }
  return c->result;
}

static gpointer
hw_push (GMainContext      *context,
         Waiter            *w,
         gboolean           unlock_first,
         SyncifyThreadFunc  func,
         gpointer           user_data,
         GError           **error)
{
  HwCall c = { w, ++w->seq, unlock_first, func, NULL, NULL, user_data, NULL, NULL };

  g_main_context_invoke_full (context, G_PRIORITY_DEFAULT, hw_invoke_cb, &c, NULL);
  return hw_call_wait (&c, error);
}

static gpointer
hw_syncify (GMainContext      *context,
            Waiter            *w,
            gboolean           unlock_first,
            SyncifyStartFunc   start,
            SyncifyFinishFunc  finish,
            gpointer           user_data,
            GError           **error)
{
  HwCall c = { w, ++w->seq, unlock_first, NULL, start, finish, user_data, NULL, NULL };

  g_main_context_invoke_full (context, G_PRIORITY_DEFAULT, hw_start_cb, &c, NULL);
  return hw_call_wait (&c, error);
}

static gpointer
loop_thread_main (gpointer data)
{
  LoopThread *lt = data;

  g_main_context_push_thread_default (lt->context);
  g_main_loop_run (lt->loop);
  g_main_context_pop_thread_default (lt->context);

  return NULL;
}

static void
loop_thread_start (LoopThread *lt,
                   const char *name)
{
  lt->context = g_main_context_new ();
  lt->loop = g_main_loop_new (lt->context, FALSE);
  lt->thread = g_thread_new (name, loop_thread_main, lt);
}

static gboolean
quit_loop_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
loop_thread_stop (LoopThread *lt)
{
  /* Inside the loop: a quit before the loop started running would be lost. */
  g_main_context_invoke (lt->context, quit_loop_cb, lt->loop);
  g_thread_join (lt->thread);
  g_main_loop_unref (lt->loop);
  g_main_context_unref (lt->context);
}

/* ------------------------------------------------------------------------ *
 * Fixtures shared by the cases, made once
 * ------------------------------------------------------------------------ */

static struct {
  GThread        *main_thread;

  int             ping_fd;
  int             pong_fd;
  GThread        *echo_thread;

  SyncifyContext *bg;             /* the library's background context */
  PushTarget      bg_target;
  LoopThread      loop;           /* its hand-written counterpart */
  PushTarget      loop_target;

  PushTarget      main_target;    /* work run on the main thread */
  GMainContext   *reused_context; /* the hand-written private context */
  Waiter          main_waiter;

  SyncifyContext *default_context;
} fx;

static gpointer
echo_main (gpointer data)
{
  for (;;)
    {
      guint64 v;

      if (read (fx.ping_fd, &v, sizeof v) != sizeof v || v != 1)
        break;
      if (write (fx.pong_fd, &v, sizeof v) != sizeof v)
        break;
    }

  return NULL;
}

static gpointer
get_thread_func (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  return g_thread_self ();
}

static gpointer
track_allocs_func (gpointer       user_data,
                   GCancellable  *cancellable,
                   GError       **error)
{
  bench_alloc_track_thread (GPOINTER_TO_INT (user_data));
  return GINT_TO_POINTER (1);
}

static void
fixtures_init (void)
{
  g_autoptr(GError) error = NULL;

  test_watchdog_arm ("the fixtures to start");

  fx.main_thread = g_thread_self ();
  fx.main_target.owner = fx.main_thread;
  waiter_init (&fx.main_waiter);
  bench_alloc_track_thread (TRUE);

  fx.ping_fd = eventfd (0, EFD_CLOEXEC);
  fx.pong_fd = eventfd (0, EFD_CLOEXEC);
  if (fx.ping_fd < 0 || fx.pong_fd < 0)
    g_error ("eventfd: %s", g_strerror (errno));
  fx.echo_thread = g_thread_new ("bench-echo", echo_main, NULL);

  fx.bg = syncify_context_new_thread ("bench-bg");
  fx.bg_target.owner = syncify_context_invoke_sync (fx.bg, get_thread_func, NULL, NULL, &error);
  g_assert_no_error (error);
  syncify_context_invoke_sync (fx.bg, track_allocs_func, GINT_TO_POINTER (TRUE), NULL, &error);
  g_assert_no_error (error);

  loop_thread_start (&fx.loop, "bench-loop");
  fx.loop_target.owner = hw_push (fx.loop.context, &fx.main_waiter, FALSE,
                                  get_thread_func, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (fx.loop_target.owner == fx.loop.thread);
  hw_push (fx.loop.context, &fx.main_waiter, FALSE, track_allocs_func,
           GINT_TO_POINTER (TRUE), &error);
  g_assert_no_error (error);

  fx.reused_context = g_main_context_new ();
  fx.default_context = syncify_context_get_default ();

  test_watchdog_disarm ();
}

static void
fixtures_clear (void)
{
  guint64 quit = 2;

  test_watchdog_arm ("the fixtures to stop");

  if (write (fx.ping_fd, &quit, sizeof quit) != sizeof quit)
    g_error ("eventfd: %s", g_strerror (errno));
  g_thread_join (fx.echo_thread);
  close (fx.ping_fd);
  close (fx.pong_fd);

  g_clear_object (&fx.bg);
  loop_thread_stop (&fx.loop);
  g_main_context_unref (fx.reused_context);
  waiter_clear (&fx.main_waiter);

  test_watchdog_disarm ();
}

/* ------------------------------------------------------------------------ *
 * The wake-up floor: eventfd write + read ping-pong between two threads
 * ------------------------------------------------------------------------ */

static void
run_wake_floor (RunArgs *a)
{
  guint64 one = 1;
  gint64 t0, t1;

  t0 = now_ns ();
  for (guint64 i = 0; i < a->n; i++)
    {
      guint64 v = 0;

      if G_UNLIKELY (write (fx.ping_fd, &one, sizeof one) != sizeof one ||
                     read (fx.pong_fd, &v, sizeof v) != sizeof v ||
                     v != 1)
        {
          run_fail (a, "eventfd round trip %" G_GUINT64_FORMAT " failed (%s)",
                    i, g_strerror (errno));
          return;
        }
    }
  t1 = now_ns ();

  a->value = (double) (t1 - t0) / a->n;
}

/* ------------------------------------------------------------------------ *
 * Push loops: one operation per call of a PushOneFunc
 * ------------------------------------------------------------------------ */

typedef gpointer (*PushOneFunc) (PushTarget  *t,
                                 Waiter      *w,
                                 GError     **error);

static gpointer
lib_invoke_bg (PushTarget *t, Waiter *w, GError **error)
{
  return syncify_context_invoke_sync (fx.bg, push_func, t, NULL, error);
}

static gpointer
lib_syncify_bg (PushTarget *t, Waiter *w, GError **error)
{
  return syncify_context_syncify (fx.bg, SYNCIFY_FLAGS_NONE, op_start, op_finish, t, NULL, error);
}

static gpointer
hw_invoke_loop_naive (PushTarget *t, Waiter *w, GError **error)
{
  return hw_push (fx.loop.context, w, FALSE, push_func, t, error);
}

static gpointer
hw_invoke_loop_unlock (PushTarget *t, Waiter *w, GError **error)
{
  return hw_push (fx.loop.context, w, TRUE, push_func, t, error);
}

static gpointer
hw_syncify_loop_naive (PushTarget *t, Waiter *w, GError **error)
{
  return hw_syncify (fx.loop.context, w, FALSE, op_start, op_finish, t, error);
}

static gpointer
hw_syncify_loop_unlock (PushTarget *t, Waiter *w, GError **error)
{
  return hw_syncify (fx.loop.context, w, TRUE, op_start, op_finish, t, error);
}

/* From an asyncify worker: NULL is the worker's own context. */
static gpointer
lib_invoke_current (PushTarget *t, Waiter *w, GError **error)
{
  return syncify_context_invoke_sync (NULL, push_func, t, NULL, error);
}

static gpointer
lib_syncify_current (PushTarget *t, Waiter *w, GError **error)
{
  return syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, op_start, op_finish, t, NULL, error);
}

static gpointer
hw_invoke_main_naive (PushTarget *t, Waiter *w, GError **error)
{
  return hw_push (g_main_context_default (), w, FALSE, push_func, t, error);
}

static gpointer
hw_invoke_main_unlock (PushTarget *t, Waiter *w, GError **error)
{
  return hw_push (g_main_context_default (), w, TRUE, push_func, t, error);
}

static gpointer
hw_syncify_main_naive (PushTarget *t, Waiter *w, GError **error)
{
  return hw_syncify (g_main_context_default (), w, FALSE, op_start, op_finish, t, error);
}

/* Plain code, no loop: the library's private path. */
static gpointer
lib_private (PushTarget *t, Waiter *w, GError **error)
{
  return syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                  op_start, op_finish, t, NULL, error);
}

typedef struct {
  gpointer  result;
  GError   *error;
  gboolean  done;
} PrivateWait;

static void
private_ready (GObject      *source_object,
               GAsyncResult *result,
               gpointer      data)
{
  PrivateWait *pw = data;

  pw->result = op_finish (source_object, result, NULL, &pw->error);
  pw->done = TRUE;
}

static gpointer
hw_private_run (GMainContext  *context,
                PushTarget    *t,
                GError       **error)
{
  PrivateWait pw = { NULL, NULL, FALSE };

  g_main_context_push_thread_default (context);
  op_start (t, NULL, private_ready, &pw);
  while (!pw.done)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);

  if (pw.error != NULL)
    {
      g_propagate_error (error, pw.error);
      return NULL;
    }
  return pw.result;
}

static gpointer
hw_private_reused (PushTarget *t, Waiter *w, GError **error)
{
  return hw_private_run (fx.reused_context, t, error);
}

static gpointer
hw_private_fresh (PushTarget *t, Waiter *w, GError **error)
{
  GMainContext *context = g_main_context_new ();
  gpointer result = hw_private_run (context, t, error);

  g_main_context_unref (context);
  return result;
}

/* One caller: every result is the next count of @t. */
static void
run_push_loop (RunArgs     *a,
               PushTarget  *t,
               Waiter      *w,
               PushOneFunc  one)
{
  guint first = t->count;
  guint wrong = t->wrong_thread;
  GError *error = NULL;
  gint64 t0, t1;

  t0 = now_ns ();
  for (guint64 i = 0; i < a->n; i++)
    {
      gpointer result = one (t, w, &error);

      if G_UNLIKELY (error != NULL)
        {
          run_fail_error (a, "push", &error);
          return;
        }
      if G_UNLIKELY (GPOINTER_TO_UINT (result) != first + i + 1)
        {
          run_fail (a, "push %" G_GUINT64_FORMAT " returned %u, expected %u",
                    i, GPOINTER_TO_UINT (result), (guint) (first + i + 1));
          return;
        }
    }
  t1 = now_ns ();

  if (t->wrong_thread != wrong)
    run_fail (a, "%u pushed calls ran on the wrong thread", t->wrong_thread - wrong);

  a->value = (double) (t1 - t0) / a->n;
}

static void
run_lib_invoke_bg (RunArgs *a)
{
  run_push_loop (a, &fx.bg_target, NULL, lib_invoke_bg);
}

static void
run_hw_invoke_naive (RunArgs *a)
{
  run_push_loop (a, &fx.loop_target, &fx.main_waiter, hw_invoke_loop_naive);
}

static void
run_hw_invoke_unlock (RunArgs *a)
{
  run_push_loop (a, &fx.loop_target, &fx.main_waiter, hw_invoke_loop_unlock);
}

static void
run_lib_syncify_bg (RunArgs *a)
{
  run_push_loop (a, &fx.bg_target, NULL, lib_syncify_bg);
}

static void
run_hw_syncify_naive (RunArgs *a)
{
  run_push_loop (a, &fx.loop_target, &fx.main_waiter, hw_syncify_loop_naive);
}

static void
run_hw_syncify_unlock (RunArgs *a)
{
  run_push_loop (a, &fx.loop_target, &fx.main_waiter, hw_syncify_loop_unlock);
}

static void
run_lib_private (RunArgs *a)
{
  run_push_loop (a, &fx.main_target, NULL, lib_private);
}

static void
run_hw_private_reused (RunArgs *a)
{
  run_push_loop (a, &fx.main_target, NULL, hw_private_reused);
}

static void
run_hw_private_fresh (RunArgs *a)
{
  run_push_loop (a, &fx.main_target, NULL, hw_private_fresh);
}

/* ------------------------------------------------------------------------ *
 * Pushing onto the main loop from a worker
 * ------------------------------------------------------------------------ */

typedef struct {
  RunArgs     *args;
  PushOneFunc  one;
  Waiter       waiter;
  GMainLoop   *loop;
  GThread     *thread;   /* the hand-written side's worker */
} MainRun;

static gpointer
main_lib_worker (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  MainRun *mr = user_data;

  if (syncify_context_get_current () != fx.default_context)
    run_fail (mr->args, "the worker does not belong to the default context");
  run_push_loop (mr->args, &fx.main_target, NULL, mr->one);
  return GINT_TO_POINTER (1);
}

static void
main_lib_done (GObject      *source_object,
               GAsyncResult *result,
               gpointer      data)
{
  MainRun *mr = data;
  GError *error = NULL;
  gpointer ret = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);

  if (error != NULL)
    run_fail_error (mr->args, "asyncify", &error);
  else if (ret != GINT_TO_POINTER (1))
    run_fail (mr->args, "the worker returned %p", ret);
  if (g_thread_self () != fx.main_thread)
    run_fail (mr->args, "the asyncify callback ran off the main thread");
  g_main_loop_quit (mr->loop);
}

static void
main_lib_start (gpointer data)
{
  MainRun *mr = data;

  syncify_context_asyncify (fx.default_context, SYNCIFY_FLAGS_NONE,
                            main_lib_worker, mr, NULL, NULL, NULL,
                            main_lib_done, mr);
}

static void
run_main_lib (RunArgs     *a,
              PushOneFunc  one)
{
  MainRun mr = { a, one, { { 0, }, }, NULL, NULL };

  mr.loop = g_main_loop_new (NULL, FALSE);
  /* Started from inside the loop, so the main thread owns the default
   * context for the whole life of the worker. */
  g_idle_add_once (main_lib_start, &mr);
  g_main_loop_run (mr.loop);
  g_main_loop_unref (mr.loop);
}

static gpointer
main_hw_worker (gpointer data)
{
  MainRun *mr = data;

  waiter_init (&mr->waiter);
  run_push_loop (mr->args, &fx.main_target, &mr->waiter, mr->one);
  waiter_clear (&mr->waiter);
  g_main_context_invoke (g_main_context_default (), quit_loop_cb, mr->loop);
  return NULL;
}

static void
main_hw_start (gpointer data)
{
  MainRun *mr = data;

  mr->thread = g_thread_new ("bench-worker", main_hw_worker, mr);
}

static void
run_main_hw (RunArgs     *a,
             PushOneFunc  one)
{
  MainRun mr = { a, one, { { 0, }, }, NULL, NULL };

  mr.loop = g_main_loop_new (NULL, FALSE);
  /* Started from inside the loop: a worker started before the main thread
   * owns the default context would have g_main_context_invoke() run its
   * calls inline, on the worker. */
  g_idle_add_once (main_hw_start, &mr);
  g_main_loop_run (mr.loop);
  g_thread_join (mr.thread);
  g_main_loop_unref (mr.loop);
}

static void run_lib_invoke_main (RunArgs *a) { run_main_lib (a, lib_invoke_current); }
static void run_lib_syncify_main (RunArgs *a) { run_main_lib (a, lib_syncify_current); }
static void run_hw_invoke_main_naive (RunArgs *a) { run_main_hw (a, hw_invoke_main_naive); }
static void run_hw_invoke_main_unlock (RunArgs *a) { run_main_hw (a, hw_invoke_main_unlock); }
static void run_hw_syncify_main_naive (RunArgs *a) { run_main_hw (a, hw_syncify_main_naive); }

/* ------------------------------------------------------------------------ *
 * Several threads pushing at once
 * ------------------------------------------------------------------------ */

typedef struct _ThreadsRun ThreadsRun;

typedef struct {
  ThreadsRun *run;
  GThread    *thread;
  Waiter      waiter;
  gint64      end;
} ThreadsWorker;

struct _ThreadsRun {
  RunArgs     *args;
  PushOneFunc  one;
  PushTarget  *target;
  guint64      per_thread;
  GMutex       lock;
  GCond        cond;
  guint        ready;   /* protected by @lock */
  gboolean     go;      /* protected by @lock */
};

static gpointer
threads_worker_main (gpointer data)
{
  ThreadsWorker *tw = data;
  ThreadsRun *tr = tw->run;
  GError *error = NULL;

  waiter_init (&tw->waiter);

  g_mutex_lock (&tr->lock);
  tr->ready++;
  g_cond_broadcast (&tr->cond);
  while (!tr->go)
    g_cond_wait (&tr->cond, &tr->lock);
  g_mutex_unlock (&tr->lock);

  for (guint64 i = 0; i < tr->per_thread; i++)
    {
      gpointer result = tr->one (tr->target, &tw->waiter, &error);

      if G_UNLIKELY (error != NULL)
        {
          run_fail_error (tr->args, "push", &error);
          break;
        }
      if G_UNLIKELY (result == NULL)
        {
          run_fail (tr->args, "a push returned nothing");
          break;
        }
    }
  tw->end = now_ns ();

  waiter_clear (&tw->waiter);
  return NULL;
}

static void
run_threads (RunArgs     *a,
             guint        n_threads,
             PushTarget  *target,
             PushOneFunc  one)
{
  ThreadsRun tr = { a, one, target, a->n / n_threads, };
  ThreadsWorker *workers = g_new0 (ThreadsWorker, n_threads);
  guint first = target->count;
  guint wrong = target->wrong_thread;
  gint64 t0, t1 = 0;

  g_mutex_init (&tr.lock);
  g_cond_init (&tr.cond);

  for (guint i = 0; i < n_threads; i++)
    {
      workers[i].run = &tr;
      workers[i].thread = g_thread_new ("bench-pusher", threads_worker_main, &workers[i]);
    }

  g_mutex_lock (&tr.lock);
  while (tr.ready < n_threads)
    g_cond_wait (&tr.cond, &tr.lock);
  t0 = now_ns ();
  tr.go = TRUE;
  g_cond_broadcast (&tr.cond);
  g_mutex_unlock (&tr.lock);

  for (guint i = 0; i < n_threads; i++)
    {
      g_thread_join (workers[i].thread);
      t1 = MAX (t1, workers[i].end);
    }

  if (target->count - first != tr.per_thread * n_threads)
    run_fail (a, "the owner ran %u calls, expected %u", target->count - first,
              (guint) (tr.per_thread * n_threads));
  if (target->wrong_thread != wrong)
    run_fail (a, "%u pushed calls ran on the wrong thread", target->wrong_thread - wrong);

  a->value = (double) (t1 - t0) / (tr.per_thread * n_threads);

  g_mutex_clear (&tr.lock);
  g_cond_clear (&tr.cond);
  g_free (workers);
}

#define THREADS_CASE(N) \
  static void run_lib_threads_##N (RunArgs *a) { run_threads (a, N, &fx.bg_target, lib_invoke_bg); } \
  static void run_hw_threads_##N (RunArgs *a) { run_threads (a, N, &fx.loop_target, hw_invoke_loop_unlock); }

THREADS_CASE (1)
THREADS_CASE (2)
THREADS_CASE (4)
THREADS_CASE (8)

/* ------------------------------------------------------------------------ *
 * asyncify against g_task_run_in_thread()
 * ------------------------------------------------------------------------ */

static guint async_sleep_us;      /* set before a run, read by the jobs */
static gint  async_off_worker;    /* (atomic): jobs that ran on the main thread */
static gint  async_ran;           /* (atomic): jobs that ran */
static gint  async_running;       /* (atomic): blocking jobs running now */
static gint  async_max_running;   /* (atomic): the most that ever ran at once */

static inline void
async_job_body (void)
{
  if G_UNLIKELY (g_thread_self () == fx.main_thread)
    g_atomic_int_inc (&async_off_worker);
  g_atomic_int_inc (&async_ran);
  if (async_sleep_us > 0)
    {
      gint running = g_atomic_int_add (&async_running, 1) + 1;
      gint max = g_atomic_int_get (&async_max_running);

      while (running > max &&
             !g_atomic_int_compare_and_exchange (&async_max_running, max, running))
        max = g_atomic_int_get (&async_max_running);

      g_usleep (async_sleep_us);
      g_atomic_int_add (&async_running, -1);
    }
}

static gpointer
async_job_func (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  async_job_body ();
  return user_data;
}

static void
async_gtask_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  async_job_body ();
  g_task_return_pointer (task, task_data, NULL);
}

typedef struct {
  RunArgs  *args;
  gboolean  lib;
  guint     batch;     /* jobs in flight; 0: one at a time */
  guint64   started;
  guint64   done;
  guint64   sum;
  guint     off_main;  /* callbacks that ran off the main thread */
} AsyncRun;

static void async_start_one (AsyncRun *ar);

static void
async_job_done (AsyncRun *ar,
                gpointer  result,
                GError   *error)
{
  if G_UNLIKELY (error != NULL)
    run_fail_error (ar->args, "job", &error);
  if G_UNLIKELY (g_thread_self () != fx.main_thread)
    ar->off_main++;
  ar->sum += GPOINTER_TO_SIZE (result);
  ar->done++;

  if (ar->batch == 0 && ar->started < ar->args->n)
    async_start_one (ar);
}

static void
async_lib_cb (GObject      *source_object,
              GAsyncResult *result,
              gpointer      data)
{
  GError *error = NULL;
  gpointer ret = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);

  async_job_done (data, ret, error);
}

static void
async_gtask_cb (GObject      *source_object,
                GAsyncResult *result,
                gpointer      data)
{
  GError *error = NULL;
  gpointer ret = g_task_propagate_pointer (G_TASK (result), &error);

  async_job_done (data, ret, error);
}

static void
async_start_one (AsyncRun *ar)
{
  gsize value = ++ar->started;

  if (ar->lib)
    {
      syncify_context_asyncify (fx.default_context, SYNCIFY_FLAGS_NONE,
                                async_job_func, GSIZE_TO_POINTER (value), NULL, NULL,
                                NULL, async_lib_cb, ar);
    }
  else
    {
      GTask *task = g_task_new (NULL, NULL, async_gtask_cb, ar);

      g_task_set_task_data (task, GSIZE_TO_POINTER (value), NULL);
      g_task_run_in_thread (task, async_gtask_thread);
      g_object_unref (task);
    }
}

static void
run_async (RunArgs  *a,
           gboolean  lib,
           guint     batch,
           guint     sleep_us)
{
  AsyncRun ar = { a, lib, batch, 0, 0, 0, 0 };
  gint64 t0, t1;

  async_sleep_us = sleep_us;
  g_atomic_int_set (&async_off_worker, 0);
  g_atomic_int_set (&async_max_running, 0);

  t0 = now_ns ();
  if (batch == 0)
    {
      async_start_one (&ar);
      while (ar.done < a->n)
        g_main_context_iteration (NULL, TRUE);
    }
  else
    {
      while (ar.started < a->n)
        {
          guint64 end = MIN (ar.started + batch, a->n);

          while (ar.started < end)
            async_start_one (&ar);
          while (ar.done < ar.started)
            g_main_context_iteration (NULL, TRUE);
        }
    }
  t1 = now_ns ();

  if (ar.sum != a->n * (a->n + 1) / 2)
    run_fail (a, "the job results add up to %" G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT,
              ar.sum, a->n * (a->n + 1) / 2);
  if (ar.off_main > 0)
    run_fail (a, "%u callbacks ran off the main thread", ar.off_main);
  if (g_atomic_int_get (&async_off_worker) > 0)
    run_fail (a, "%d jobs ran on the main thread", g_atomic_int_get (&async_off_worker));

  if (sleep_us > 0)
    run_note (a, "%s ran at most %d jobs at once",
              lib ? "library" : "GTask", g_atomic_int_get (&async_max_running));

  async_sleep_us = 0;
  a->value = (double) (t1 - t0) / a->n;
}

static void run_lib_async_1 (RunArgs *a) { run_async (a, TRUE, 0, 0); }
static void run_hw_async_1 (RunArgs *a) { run_async (a, FALSE, 0, 0); }
static void run_lib_async_1000 (RunArgs *a) { run_async (a, TRUE, 1000, 0); }
static void run_hw_async_1000 (RunArgs *a) { run_async (a, FALSE, 1000, 0); }
static void run_lib_async_10000 (RunArgs *a) { run_async (a, TRUE, 10000, 0); }
static void run_hw_async_10000 (RunArgs *a) { run_async (a, FALSE, 10000, 0); }
static void run_lib_async_block (RunArgs *a) { run_async (a, TRUE, 2000, 1000); }
static void run_hw_async_block (RunArgs *a) { run_async (a, FALSE, 2000, 1000); }

/* ------------------------------------------------------------------------ *
 * 40 workers, each waiting on an inner job
 * ------------------------------------------------------------------------ */

#define N_NESTED 40

typedef struct _NestedRun NestedRun;

typedef struct {
  NestedRun *run;
  gsize      value;
} NestedItem;

struct _NestedRun {
  RunArgs    *args;
  guint       done;
  NestedItem  items[N_NESTED];
};

static void
nested_inner_start (gpointer             user_data,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             callback_data)
{
  NestedItem *item = user_data;

  if (g_thread_self () != fx.main_thread)
    run_fail (item->run->args, "the inner job was started off the main thread");
  syncify_context_asyncify (fx.default_context, SYNCIFY_FLAGS_NONE,
                            async_job_func, GSIZE_TO_POINTER (item->value), NULL, NULL,
                            cancellable, callback, callback_data);
}

static gpointer
nested_inner_finish (GObject       *source_object,
                     GAsyncResult  *result,
                     gpointer       user_data,
                     GError       **error)
{
  return syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, error);
}

static gpointer
nested_outer_lib (gpointer       user_data,
                  GCancellable  *cancellable,
                  GError       **error)
{
  return syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE,
                                  nested_inner_start, nested_inner_finish,
                                  user_data, NULL, error);
}

static void
nested_outer_gtask (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  GTask *inner = g_task_new (NULL, cancellable, NULL, NULL);
  NestedItem *item = task_data;
  GError *error = NULL;
  gpointer result;

  g_task_set_task_data (inner, GSIZE_TO_POINTER (item->value), NULL);
  g_task_run_in_thread_sync (inner, async_gtask_thread);
  result = g_task_propagate_pointer (inner, &error);
  g_object_unref (inner);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, result, NULL);
}

/* The other hand-written way for a worker to wait on an inner job: start it
 * with g_task_run_in_thread() and block on a GCond until its callback (on
 * the main loop) has run. GTask cannot tell that the outer task waits, so
 * its pool only grows by its slow overflow rule. */
typedef struct {
  GMutex   lock;
  GCond    cond;
  gboolean done;
  gpointer result;
  GError  *error;
} InnerWait;

static void
nested_inner_wait_cb (GObject      *source_object,
                      GAsyncResult *result,
                      gpointer      data)
{
  InnerWait *iw = data;
  GError *error = NULL;
  gpointer ret = g_task_propagate_pointer (G_TASK (result), &error);

  g_mutex_lock (&iw->lock);
  iw->result = ret;
  iw->error = error;
  iw->done = TRUE;
  g_cond_signal (&iw->cond);
  g_mutex_unlock (&iw->lock);
}

typedef struct {
  InnerWait *wait;
  gsize      value;
} InnerStart;

/* On the main loop: the inner task's callback then runs there too. */
static gboolean
nested_inner_start_cb (gpointer data)
{
  InnerStart *is = data;
  GTask *inner = g_task_new (NULL, NULL, nested_inner_wait_cb, is->wait);

  g_task_set_task_data (inner, GSIZE_TO_POINTER (is->value), NULL);
  g_task_run_in_thread (inner, async_gtask_thread);
  g_object_unref (inner);
  return G_SOURCE_REMOVE;
}

static void
nested_outer_gtask_wait (GTask        *task,
                         gpointer      source_object,
                         gpointer      task_data,
                         GCancellable *cancellable)
{
  NestedItem *item = task_data;
  InnerWait iw = { { 0, }, };
  InnerStart is = { &iw, item->value };

  g_mutex_init (&iw.lock);
  g_cond_init (&iw.cond);

  g_main_context_invoke (g_main_context_default (), nested_inner_start_cb, &is);

  /* Unbounded: the watchdog armed around the run is the bound. */
  g_mutex_lock (&iw.lock);
  while (!iw.done)
    g_cond_wait (&iw.cond, &iw.lock);
  g_mutex_unlock (&iw.lock);

  g_mutex_clear (&iw.lock);
  g_cond_clear (&iw.cond);

  if (iw.error != NULL)
    g_task_return_error (task, iw.error);
  else
    g_task_return_pointer (task, iw.result, NULL);
}

static void
nested_done (NestedItem *item,
             gpointer    result,
             GError     *error)
{
  if (error != NULL)
    run_fail_error (item->run->args, "outer job", &error);
  else if (GPOINTER_TO_SIZE (result) != item->value)
    run_fail (item->run->args, "outer job %zu returned %zu", item->value,
              GPOINTER_TO_SIZE (result));
  item->run->done++;
}

static void
nested_lib_cb (GObject      *source_object,
               GAsyncResult *result,
               gpointer      data)
{
  GError *error = NULL;
  gpointer ret = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);

  nested_done (data, ret, error);
}

static void
nested_gtask_cb (GObject      *source_object,
                 GAsyncResult *result,
                 gpointer      data)
{
  GError *error = NULL;
  gpointer ret = g_task_propagate_pointer (G_TASK (result), &error);

  nested_done (data, ret, error);
}

static void
run_nested (RunArgs      *a,
            gboolean      lib,
            GTaskThreadFunc outer_func)
{
  NestedRun nr = { a, 0, };
  gint64 t0, t1;

  for (guint i = 0; i < N_NESTED; i++)
    {
      nr.items[i].run = &nr;
      nr.items[i].value = i + 1;
    }

  t0 = now_ns ();
  for (guint i = 0; i < N_NESTED; i++)
    {
      if (lib)
        {
          syncify_context_asyncify (fx.default_context, SYNCIFY_FLAGS_NONE,
                                    nested_outer_lib, &nr.items[i], NULL, NULL, NULL,
                                    nested_lib_cb, &nr.items[i]);
        }
      else
        {
          GTask *task = g_task_new (NULL, NULL, nested_gtask_cb, &nr.items[i]);

          g_task_set_task_data (task, &nr.items[i], NULL);
          g_task_run_in_thread (task, outer_func);
          g_object_unref (task);
        }
    }
  while (nr.done < N_NESTED)
    g_main_context_iteration (NULL, TRUE);
  t1 = now_ns ();

  a->value = (double) (t1 - t0);   /* the total */
}

static void run_lib_nested (RunArgs *a) { run_nested (a, TRUE, NULL); }
static void run_hw_nested (RunArgs *a) { run_nested (a, FALSE, nested_outer_gtask); }
static void run_hw_nested_wait (RunArgs *a) { run_nested (a, FALSE, nested_outer_gtask_wait); }

/* ------------------------------------------------------------------------ *
 * Memory per queued job
 * ------------------------------------------------------------------------ */

typedef struct {
  GMutex   lock;
  GCond    cond;
  guint    n_started;   /* protected by @lock */
  gboolean release;     /* protected by @lock */
} Blocker;

static void
blocker_block (Blocker *b)
{
  gint64 deadline = g_get_monotonic_time () + test_watchdog_bound_us ();

  g_mutex_lock (&b->lock);
  b->n_started++;
  g_cond_broadcast (&b->cond);
  while (!b->release)
    if (!g_cond_wait_until (&b->cond, &b->lock, deadline))
      g_error ("a blocker was never released");
  g_mutex_unlock (&b->lock);
}

static void
blocker_wait_started (Blocker *b,
                      guint    n)
{
  gint64 deadline = g_get_monotonic_time () + test_watchdog_bound_us ();

  g_mutex_lock (&b->lock);
  while (b->n_started < n)
    if (!g_cond_wait_until (&b->cond, &b->lock, deadline))
      g_error ("only %u of %u blockers started", b->n_started, n);
  g_mutex_unlock (&b->lock);
}

static void
blocker_release (Blocker *b)
{
  g_mutex_lock (&b->lock);
  b->release = TRUE;
  g_cond_broadcast (&b->cond);
  g_mutex_unlock (&b->lock);
}

static gpointer
blocker_lib_func (gpointer       user_data,
                  GCancellable  *cancellable,
                  GError       **error)
{
  blocker_block (user_data);
  return NULL;
}

static void
blocker_gtask_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  blocker_block (task_data);
  g_task_return_pointer (task, NULL, NULL);
}

static void
blocker_lib_cb (GObject      *source_object,
                GAsyncResult *result,
                gpointer      data)
{
  GError *error = NULL;

  syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  g_assert_no_error (error);
  (*(guint *) data)++;
}

static void
blocker_gtask_cb (GObject      *source_object,
                  GAsyncResult *result,
                  gpointer      data)
{
  GError *error = NULL;

  g_task_propagate_pointer (G_TASK (result), &error);
  g_assert_no_error (error);
  (*(guint *) data)++;
}

static gsize
mem_in_use (void)
{
  struct mallinfo2 mi = mallinfo2 ();

  return mi.uordblks + mi.hblkhd;
}

/* The pool's slots (the context's one worker, or GTask's 10 threads) are all
 * held by blockers; every measured job stays queued until they are
 * released. */
static void
run_mem (RunArgs  *a,
         gboolean  lib)
{
  AsyncRun ar = { a, lib, (guint) a->n, 0, 0, 0, 0 };
  SyncifyContext *context = NULL;
  Blocker b = { { 0, }, };
  guint n_blockers = lib ? 1 : 10;   /* GTask's pool: G_TASK_POOL_SIZE threads */
  guint blockers_done = 0;
  gsize m0, m1;
  gint ran_early;

  g_mutex_init (&b.lock);
  g_cond_init (&b.cond);
  async_sleep_us = 0;
  g_atomic_int_set (&async_off_worker, 0);

  if (lib)
    {
      context = syncify_context_new (NULL);
      syncify_context_set_max_workers (context, 1);
      syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, blocker_lib_func, &b,
                                NULL, NULL, NULL, blocker_lib_cb, &blockers_done);
    }
  else
    {
      for (guint i = 0; i < n_blockers; i++)
        {
          GTask *task = g_task_new (NULL, NULL, blocker_gtask_cb, &blockers_done);

          g_task_set_task_data (task, &b, NULL);
          g_task_run_in_thread (task, blocker_gtask_thread);
          g_object_unref (task);
        }
    }
  blocker_wait_started (&b, n_blockers);

  g_atomic_int_set (&async_ran, 0);
  m0 = mem_in_use ();
  for (guint64 i = 0; i < a->n; i++)
    {
      gsize value = ++ar.started;

      if (lib)
        {
          syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE,
                                    async_job_func, GSIZE_TO_POINTER (value), NULL, NULL,
                                    NULL, async_lib_cb, &ar);
        }
      else
        {
          GTask *task = g_task_new (NULL, NULL, async_gtask_cb, &ar);

          g_task_set_task_data (task, GSIZE_TO_POINTER (value), NULL);
          g_task_run_in_thread (task, async_gtask_thread);
          g_object_unref (task);
        }
    }
  m1 = mem_in_use ();
  ran_early = g_atomic_int_get (&async_ran);

  blocker_release (&b);
  while (ar.done < a->n || blockers_done < n_blockers)
    g_main_context_iteration (NULL, TRUE);

  if (ran_early > 0)
    run_note (a, "%s: %d of the queued jobs ran before the end of the measurement",
              lib ? "library" : "GTask", ran_early);
  if (ar.sum != a->n * (a->n + 1) / 2)
    run_fail (a, "the job results add up to %" G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT,
              ar.sum, a->n * (a->n + 1) / 2);
  if (ar.off_main > 0)
    run_fail (a, "%u callbacks ran off the main thread", ar.off_main);

  g_clear_object (&context);
  g_mutex_clear (&b.lock);
  g_cond_clear (&b.cond);

  a->value = ((double) m1 - (double) m0) / a->n;
}

static void run_lib_mem (RunArgs *a) { run_mem (a, TRUE); }
static void run_hw_mem (RunArgs *a) { run_mem (a, FALSE); }

/* ------------------------------------------------------------------------ *
 * Heap allocations per push round trip, in steady state
 * ------------------------------------------------------------------------ */

#define ALLOC_WARMUP 1000

static void
run_allocs (RunArgs     *a,
            PushTarget  *t,
            Waiter      *w,
            PushOneFunc  one)
{
  GError *error = NULL;
  guint64 count;

  if (!bench_alloc_supported ())
    {
      run_note (a, "malloc is not interposed in this build (sanitizer)");
      a->value = NAN;
      return;
    }

  for (guint i = 0; i < ALLOC_WARMUP; i++)
    if (one (t, w, &error) == NULL || error != NULL)
      {
        if (error != NULL)
          run_fail_error (a, "warm-up push", &error);
        else
          run_fail (a, "a warm-up push returned nothing");
        return;
      }

  bench_alloc_start ();
  for (guint64 i = 0; i < a->n; i++)
    if G_UNLIKELY (one (t, w, &error) == NULL || error != NULL)
      break;
  count = bench_alloc_stop ();

  if (error != NULL)
    run_fail_error (a, "push", &error);

  a->value = (double) count / a->n;
}

static void run_lib_allocs_invoke (RunArgs *a) { run_allocs (a, &fx.bg_target, NULL, lib_invoke_bg); }
static void run_hw_allocs_invoke (RunArgs *a) { run_allocs (a, &fx.loop_target, &fx.main_waiter, hw_invoke_loop_naive); }
static void run_lib_allocs_syncify (RunArgs *a) { run_allocs (a, &fx.bg_target, NULL, lib_syncify_bg); }
static void run_hw_allocs_syncify (RunArgs *a) { run_allocs (a, &fx.loop_target, &fx.main_waiter, hw_syncify_loop_naive); }
/* ------------------------------------------------------------------------ *
 * Scale: the same latency with many threads blocked, many live contexts,
 * many queued jobs; memory per idle context, per blocked waiter, per call
 *
 * A scale case compares a measurement at a large scale (A) with the same
 * measurement at a small one (B), interleaved like every other case, or the
 * library with the hand-written way at the same scale. Whatever a run sets
 * up (blocked threads, live contexts) is made before its clock starts and
 * is all torn down, threads joined, before it returns.
 * ------------------------------------------------------------------------ */

static gsize
vm_rss_bytes (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, "\nVmRSS:");
  if (line == NULL)
    return 0;
  return (gsize) g_ascii_strtoull (line + strlen ("\nVmRSS:"), NULL, 10) * 1024;
}

/* Waits until no thread of the process but the caller is runnable (the
 * threads just started have reached their sleep: a futex, a GCond, poll)
 * for a few polls in a row, bounded. Reads /proc/self/task/(tid)/stat. */
static gboolean
wait_threads_settled (void)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  g_autofree char *self_name = g_strdup_printf ("%ld", (long) syscall (SYS_gettid));
  guint quiet = 0;

  while (quiet < 3)
    {
      g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
      const char *tid;
      guint running = 0;

      if (dir == NULL)
        return FALSE;
      while ((tid = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = NULL;
          g_autofree char *stat = NULL;
          const char *paren;

          if (g_str_equal (tid, self_name))
            continue;
          path = g_strdup_printf ("/proc/self/task/%s/stat", tid);
          if (!g_file_get_contents (path, &stat, NULL, NULL))
            continue;   /* exited meanwhile */
          paren = strrchr (stat, ')');
          if (paren != NULL && paren[1] == ' ' && paren[2] == 'R')
            running++;
        }
      quiet = running == 0 ? quiet + 1 : 0;
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (1000);
    }

  return TRUE;
}

/* Raised to the hard limit once: 10 000 live contexts hold 10 000 eventfds. */
static guint64
fd_limit (void)
{
  static guint64 limit;

  if (limit == 0)
    {
      struct rlimit rl;

      if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
        return 1024;
      if (rl.rlim_cur < rl.rlim_max)
        {
          rl.rlim_cur = rl.rlim_max;
          setrlimit (RLIMIT_NOFILE, &rl);
          getrlimit (RLIMIT_NOFILE, &rl);
        }
      limit = rl.rlim_cur;
    }
  return limit;
}

/* The context the scale push functions push to, set around a measurement. */
static SyncifyContext *scale_context;

static gpointer
lib_invoke_scale (PushTarget *t, Waiter *w, GError **error)
{
  return syncify_context_invoke_sync (scale_context, push_func, t, NULL, error);
}

/* -- K threads blocked in waits ------------------------------------------ */

typedef struct _BlockedSet BlockedSet;

typedef struct {
  BlockedSet *set;
  GThread    *thread;
  Waiter      waiter;   /* the hand-written side's */
  gboolean    gate;     /* the first: holds the busy context's thread */
} BlockedThread;

struct _BlockedSet {
  RunArgs        *args;
  gboolean        lib;
  guint           n;
  SyncifyContext *busy;      /* lib: a background context, held by @gate */
  LoopThread      loop;      /* hand-written: a loop thread, held by @gate */
  PushTarget      target;    /* counted by the queued calls, on the busy thread */
  Blocker         gate;
  BlockedThread  *threads;
};

static gpointer
gate_func (gpointer       user_data,
           GCancellable  *cancellable,
           GError       **error)
{
  BlockedSet *bs = user_data;

  blocker_block (&bs->gate);
  return GINT_TO_POINTER (1);
}

static gpointer
blocked_thread_main (gpointer data)
{
  BlockedThread *bt = data;
  BlockedSet *bs = bt->set;
  SyncifyThreadFunc func = bt->gate ? gate_func : push_func;
  gpointer func_data = bt->gate ? (gpointer) bs : &bs->target;
  GError *error = NULL;
  gpointer result;

  if (bs->lib)
    result = syncify_context_invoke_sync (bs->busy, func, func_data, NULL, &error);
  else
    {
      waiter_init (&bt->waiter);
      result = hw_push (bs->loop.context, &bt->waiter, TRUE, func, func_data, &error);
      waiter_clear (&bt->waiter);
    }

  if (error != NULL)
    run_fail_error (bs->args, "a blocked push", &error);
  else if (result == NULL)
    run_fail (bs->args, "a blocked push returned nothing");
  return NULL;
}

/* Starts the busy context (or loop thread), before any measurement. */
static void
blocked_set_init (BlockedSet *bs,
                  RunArgs    *a,
                  gboolean    lib,
                  guint       n)
{
  GError *error = NULL;

  *bs = (BlockedSet) { .args = a, .lib = lib, .n = n };
  g_mutex_init (&bs->gate.lock);
  g_cond_init (&bs->gate.cond);
  bs->threads = g_new0 (BlockedThread, n);

  if (lib)
    {
      bs->busy = syncify_context_new_thread ("bench-busy");
      bs->target.owner = syncify_context_invoke_sync (bs->busy, get_thread_func, NULL, NULL, &error);
    }
  else
    {
      loop_thread_start (&bs->loop, "bench-busy");
      bs->target.owner = hw_push (bs->loop.context, &fx.main_waiter, FALSE, get_thread_func,
                                  NULL, &error);
    }
  if (error != NULL)
    run_fail_error (a, "starting the busy context", &error);
}

/* Blocks @n threads: the first holds the busy thread, the others wait for
 * it to run their calls. */
static void
blocked_set_block (BlockedSet *bs)
{
  for (guint i = 0; i < bs->n; i++)
    {
      bs->threads[i].set = bs;
      bs->threads[i].gate = i == 0;
      bs->threads[i].thread = g_thread_new ("bench-blocked", blocked_thread_main, &bs->threads[i]);
      if (i == 0)
        blocker_wait_started (&bs->gate, 1);
    }
  if (!wait_threads_settled ())
    run_note (bs->args, "some blocked threads were still runnable after 5 s");
  if (bs->target.count != 0)
    run_fail (bs->args, "%u calls ran on the busy thread before its release", bs->target.count);
}

static void
blocked_set_clear (BlockedSet *bs)
{
  blocker_release (&bs->gate);
  for (guint i = 0; i < bs->n; i++)
    if (bs->threads[i].thread != NULL)
      g_thread_join (bs->threads[i].thread);

  if (bs->n > 0 && bs->target.count != bs->n - 1)
    run_fail (bs->args, "the busy thread ran %u queued calls, expected %u",
              bs->target.count, bs->n - 1);
  if (bs->target.wrong_thread != 0)
    run_fail (bs->args, "%u queued calls ran on the wrong thread", bs->target.wrong_thread);

  if (bs->lib)
    g_clear_object (&bs->busy);
  else
    loop_thread_stop (&bs->loop);
  g_mutex_clear (&bs->gate.lock);
  g_cond_clear (&bs->gate.cond);
  g_free (bs->threads);
}

/* invoke_sync onto the benchmark's background context while @k threads are
 * blocked pushing to another, busy one: in the library's waits (@lib), or
 * in hand-written ones (the control: as many sleeping threads, none of
 * them known to the library). */
static void
run_blocked (RunArgs  *a,
             guint     k,
             gboolean  lib)
{
  BlockedSet bs;

  if (k == 0)
    {
      run_push_loop (a, &fx.bg_target, NULL, lib_invoke_bg);
      return;
    }

  blocked_set_init (&bs, a, lib, k);
  blocked_set_block (&bs);
  if (a->error->len == 0)
    run_push_loop (a, &fx.bg_target, NULL, lib_invoke_bg);
  blocked_set_clear (&bs);
}

static void run_blocked_0 (RunArgs *a) { run_blocked (a, 0, TRUE); }
static void run_blocked_10 (RunArgs *a) { run_blocked (a, 10, TRUE); }
static void run_blocked_100 (RunArgs *a) { run_blocked (a, 100, TRUE); }
static void run_blocked_1000 (RunArgs *a) { run_blocked (a, 1000, TRUE); }
static void run_blocked_hand_1000 (RunArgs *a) { run_blocked (a, 1000, FALSE); }

/* Heap and resident bytes per blocked thread, its own GThread included. */
static void
run_mem_blocked (RunArgs  *a,
                 gboolean  lib)
{
  guint n = (guint) MAX (a->n, 2);
  BlockedSet bs;
  gsize m0, m1, r0, r1;

  blocked_set_init (&bs, a, lib, n);
  m0 = mem_in_use ();
  r0 = vm_rss_bytes ();
  blocked_set_block (&bs);
  m1 = mem_in_use ();
  r1 = vm_rss_bytes ();
  blocked_set_clear (&bs);

  run_note (a, "%s: VmRSS +%.0f bytes per blocked thread (thread stack included)",
            lib ? "library" : "hand-written", ((double) r1 - (double) r0) / n);
  a->value = ((double) m1 - (double) m0) / n;
}

static void run_lib_mem_blocked (RunArgs *a) { run_mem_blocked (a, TRUE); }
static void run_hw_mem_blocked (RunArgs *a) { run_mem_blocked (a, FALSE); }

/* -- C live contexts ------------------------------------------------------ */

static SyncifyContext **
bg_contexts_start (RunArgs *a,
                   guint    n)
{
  SyncifyContext **contexts = g_new0 (SyncifyContext *, n);
  GError *error = NULL;

  for (guint i = 0; i < n; i++)
    contexts[i] = syncify_context_new_thread ("bench-live");
  /* Each thread iterating its context (its owner recorded). */
  for (guint i = 0; i < n && error == NULL; i++)
    syncify_context_invoke_sync (contexts[i], get_thread_func, NULL, NULL, &error);
  if (error != NULL)
    run_fail_error (a, "starting a live context", &error);

  return contexts;
}

static void
contexts_free (SyncifyContext **contexts,
               guint            n)
{
  for (guint i = 0; i < n; i++)
    g_object_unref (contexts[i]);
  g_free (contexts);
}

/* invoke_sync onto one of @c live background contexts. */
static void
run_bg_contexts (RunArgs *a,
                 guint    c)
{
  SyncifyContext **contexts = bg_contexts_start (a, c);
  PushTarget t = { NULL, 0, 0 };
  GError *error = NULL;

  scale_context = contexts[c / 2];
  t.owner = syncify_context_invoke_sync (scale_context, get_thread_func, NULL, NULL, &error);
  if (error != NULL)
    run_fail_error (a, "the target context", &error);
  else
    run_push_loop (a, &t, NULL, lib_invoke_scale);
  scale_context = NULL;
  contexts_free (contexts, c);
}

static void run_bg_contexts_10 (RunArgs *a) { run_bg_contexts (a, 10); }
static void run_bg_contexts_100 (RunArgs *a) { run_bg_contexts (a, 100); }
static void run_bg_contexts_1000 (RunArgs *a) { run_bg_contexts (a, 1000); }

/* Wraps @n new GMainContexts that nobody iterates; NULL (with a note) if the
 * process may not open enough file descriptors. */
static SyncifyContext **
wrapped_contexts_new (RunArgs *a,
                      guint    n)
{
  SyncifyContext **contexts;

  if (fd_limit () < (guint64) n + 512)
    {
      run_note (a, "skipped: %u live contexts need %u file descriptors, the limit is %" G_GUINT64_FORMAT,
                n, n + 512, fd_limit ());
      return NULL;
    }

  contexts = g_new0 (SyncifyContext *, n);
  for (guint i = 0; i < n; i++)
    {
      GMainContext *main_context = g_main_context_new ();

      contexts[i] = syncify_context_new (main_context);
      g_main_context_unref (main_context);
    }
  return contexts;
}

/* A blocking call while @c wrapped (non-background) contexts are alive. */
static void
run_wrapped (RunArgs     *a,
             guint        c,
             PushTarget  *t,
             PushOneFunc  one)
{
  SyncifyContext **contexts = NULL;

  if (c > 0)
    {
      contexts = wrapped_contexts_new (a, c);
      if (contexts == NULL)
        {
          a->value = NAN;
          return;
        }
    }
  run_push_loop (a, t, NULL, one);
  if (contexts != NULL)
    contexts_free (contexts, c);
}

#define WRAPPED_CASE(C) \
  static void run_wrapped_invoke_##C (RunArgs *a) { run_wrapped (a, C, &fx.bg_target, lib_invoke_bg); } \
  static void run_wrapped_private_##C (RunArgs *a) { run_wrapped (a, C, &fx.main_target, lib_private); }

WRAPPED_CASE (0)
WRAPPED_CASE (100)
WRAPPED_CASE (1000)
WRAPPED_CASE (10000)

/* Heap and resident bytes per idle background context (its thread
 * included) against a hand-written GMainContext + GMainLoop + GThread. */
static void
run_mem_bg_context (RunArgs  *a,
                    gboolean  lib)
{
  guint n = (guint) a->n;
  SyncifyContext **contexts = NULL;
  LoopThread *loops = NULL;
  gsize m0, m1, r0, r1;
  GError *error = NULL;

  if (!lib)
    loops = g_new0 (LoopThread, n);
  m0 = mem_in_use ();
  r0 = vm_rss_bytes ();
  if (lib)
    contexts = bg_contexts_start (a, n);
  else
    for (guint i = 0; i < n; i++)
      {
        loop_thread_start (&loops[i], "bench-live");
        hw_push (loops[i].context, &fx.main_waiter, FALSE, get_thread_func, NULL, &error);
        if (error != NULL)
          run_fail_error (a, "starting a loop thread", &error);
      }
  if (!wait_threads_settled ())
    run_note (a, "some threads were still runnable after 5 s");
  m1 = mem_in_use ();
  r1 = vm_rss_bytes ();

  if (lib)
    contexts_free (contexts, n);
  else
    {
      for (guint i = 0; i < n; i++)
        loop_thread_stop (&loops[i]);
      g_free (loops);
    }

  run_note (a, "%s: VmRSS +%.0f bytes per idle context (thread stack included)",
            lib ? "library" : "hand-written", ((double) r1 - (double) r0) / n);
  a->value = ((double) m1 - (double) m0) / n;
}

static void run_lib_mem_bg_context (RunArgs *a) { run_mem_bg_context (a, TRUE); }
static void run_hw_mem_bg_context (RunArgs *a) { run_mem_bg_context (a, FALSE); }

/* -- Queued jobs and many pushers ------------------------------------------ */

static void run_lib_async_100000 (RunArgs *a) { run_async (a, TRUE, 100000, 0); }
static void run_hw_async_100000 (RunArgs *a) { run_async (a, FALSE, 100000, 0); }

THREADS_CASE (64)

/* -- No growth per completed call ------------------------------------------ */

/* Cycles through the three blocking paths (invoke_sync and syncify onto a
 * background context, the private path); bytes of heap kept per call, after
 * a warm-up of a tenth of the run (at least 3000 calls). A negative value
 * means something else was freed meanwhile (threads of an earlier case
 * finishing their exit, an idle pool worker leaving): run the case alone,
 * --case 'scale-mem-growth*', for a clean figure. */
static void
run_growth (RunArgs  *a,
            gboolean  lib)
{
  static const PushOneFunc lib_calls[] = { lib_invoke_bg, lib_syncify_bg, lib_private };
  static const PushOneFunc hw_calls[] = { hw_invoke_loop_naive, hw_syncify_loop_naive, hw_private_reused };
  const PushOneFunc *calls = lib ? lib_calls : hw_calls;
  PushTarget *targets[] = { lib ? &fx.bg_target : &fx.loop_target,
                            lib ? &fx.bg_target : &fx.loop_target,
                            &fx.main_target };
  Waiter *w = lib ? NULL : &fx.main_waiter;
  GError *error = NULL;
  guint64 warmup = MAX (3000, a->n / 10);
  gsize m0 = 0, m1, r0 = 0, r1;

  for (guint64 i = 0; i < warmup + a->n; i++)
    {
      guint k = i % 3;
      gpointer result;

      if (i == warmup)
        {
          m0 = mem_in_use ();
          r0 = vm_rss_bytes ();
        }
      result = calls[k] (targets[k], w, &error);
      if G_UNLIKELY (error != NULL)
        {
          run_fail_error (a, "call", &error);
          return;
        }
      if G_UNLIKELY (result == NULL)
        {
          run_fail (a, "call %" G_GUINT64_FORMAT " returned nothing", i);
          return;
        }
    }
  m1 = mem_in_use ();
  r1 = vm_rss_bytes ();

  run_note (a, "%s: heap %+.0f bytes, VmRSS %+.0f kB after %" G_GUINT64_FORMAT " calls",
            lib ? "library" : "hand-written", (double) m1 - (double) m0,
            ((double) r1 - (double) r0) / 1024, a->n);
  a->value = ((double) m1 - (double) m0) / a->n;
}

static void run_lib_growth (RunArgs *a) { run_growth (a, TRUE); }
static void run_hw_growth (RunArgs *a) { run_growth (a, FALSE); }


/* ------------------------------------------------------------------------ *
 * The cases
 * ------------------------------------------------------------------------ */

typedef void (*SideFunc) (RunArgs *a);

typedef enum {
  UNIT_NS,        /* ns per operation */
  UNIT_TOTAL_NS,  /* ns for the whole run */
  UNIT_BYTES,     /* bytes per operation */
  UNIT_ALLOCS,    /* allocations per operation */
} Unit;

typedef enum {
  TARGET_NONE,
  TARGET_RATIO_LE,   /* median ratio <= target */
  TARGET_LIB_LE,     /* library's median value <= target */
} TargetKind;

typedef struct {
  const char *name;
  SideFunc    lib;       /* A */
  SideFunc    base;      /* B; NULL: a single-sided row (the floor) */
  Unit        unit;
  guint64     n_full;
  guint64     n_quick;
  guint64     n_check;
  TargetKind  target_kind;
  double      target;
  const char *about;
  guint       max_pairs;  /* 0: no cap; for cases whose baseline takes seconds */
  /* Scale cases, for --plot: the series a case is a point of, its scale
   * (x) and the scale of its baseline side (x_base). */
  const char *series;
  double      x;
  double      x_base;
} Row;

static const Row rows[] = {
  { "floor-eventfd", run_wake_floor, NULL, UNIT_NS, 20000, 5000, 500, TARGET_NONE, 0,
    "eventfd write+read ping-pong between two threads: the wake-up floor" },

  { "push-invoke-bg/vs-naive", run_lib_invoke_bg, run_hw_invoke_naive, UNIT_NS, 20000, 5000, 500, TARGET_NONE, 0,
    "invoke_sync onto a background context vs invoke_full + GCond signalled under the lock" },
  { "push-invoke-bg/vs-unlock", run_lib_invoke_bg, run_hw_invoke_unlock, UNIT_NS, 20000, 5000, 500, TARGET_NONE, 0,
    "invoke_sync onto a background context vs invoke_full + GCond signalled after unlocking" },
  { "push-invoke-bg/vs-floor", run_lib_invoke_bg, run_wake_floor, UNIT_NS, 20000, 5000, 500, TARGET_RATIO_LE, 1.30,
    "invoke_sync onto a background context vs the eventfd round trip" },
  { "push-syncify-bg", run_lib_syncify_bg, run_hw_syncify_naive, UNIT_NS, 10000, 3000, 300, TARGET_RATIO_LE, 0.80,
    "syncify of a GTask op onto a background context vs invoke_full, start there, callback signals a GCond (under the lock)" },
  { "push-syncify-bg/vs-unlock", run_lib_syncify_bg, run_hw_syncify_unlock, UNIT_NS, 10000, 3000, 300, TARGET_NONE, 0,
    "the same, the hand-written one signalling after unlocking" },

  { "push-invoke-main/vs-naive", run_lib_invoke_main, run_hw_invoke_main_naive, UNIT_NS, 10000, 3000, 300, TARGET_NONE, 0,
    "invoke_sync(NULL) from an asyncify worker onto the main loop vs a GThread doing invoke_full + GCond (under the lock)" },
  { "push-invoke-main/vs-unlock", run_lib_invoke_main, run_hw_invoke_main_unlock, UNIT_NS, 10000, 3000, 300, TARGET_NONE, 0,
    "the same, the hand-written one signalling after unlocking" },
  { "push-invoke-main/vs-floor", run_lib_invoke_main, run_wake_floor, UNIT_NS, 10000, 3000, 300, TARGET_RATIO_LE, 1.30,
    "invoke_sync(NULL) from a worker onto the main loop vs the eventfd round trip" },
  { "push-syncify-main", run_lib_syncify_main, run_hw_syncify_main_naive, UNIT_NS, 10000, 3000, 300, TARGET_RATIO_LE, 0.80,
    "syncify(NULL) of a GTask op from a worker onto the main loop vs the hand-written invoke + op + GCond" },

  { "private-vs-reused", run_lib_private, run_hw_private_reused, UNIT_NS, 20000, 5000, 500, TARGET_RATIO_LE, 1.05,
    "syncify(NULL, ALLOW_PRIVATE_CONTEXT) from plain code vs one reused GMainContext (push, start, iterate, pop)" },
  { "private-vs-fresh", run_lib_private, run_hw_private_fresh, UNIT_NS, 20000, 5000, 500, TARGET_RATIO_LE, 1.0 / 3.0,
    "the same vs a new GMainContext per call" },

  { "asyncify-1", run_lib_async_1, run_hw_async_1, UNIT_NS, 5000, 2000, 200, TARGET_RATIO_LE, 1.00,
    "one trivial job at a time, the next started from the callback, vs g_task_run_in_thread" },
  { "asyncify-1000", run_lib_async_1000, run_hw_async_1000, UNIT_NS, 10000, 3000, 1000, TARGET_RATIO_LE, 0.50,
    "1000 trivial jobs in flight, per job, vs g_task_run_in_thread" },
  { "asyncify-10000", run_lib_async_10000, run_hw_async_10000, UNIT_NS, 10000, 10000, 10000, TARGET_NONE, 0,
    "10000 trivial jobs in flight, per job, vs g_task_run_in_thread" },
  { "asyncify-block-1ms", run_lib_async_block, run_hw_async_block, UNIT_NS, 2000, 2000, 2000, TARGET_RATIO_LE, 1.00,
    "2000 jobs each sleeping 1 ms, all in flight, per job, vs g_task_run_in_thread" },
  { "nested-40[total]", run_lib_nested, run_hw_nested, UNIT_TOTAL_NS, N_NESTED, N_NESTED, N_NESTED, TARGET_RATIO_LE, 0.10,
    "40 asyncify jobs each syncify-ing an inner asyncify job vs 40 GTasks each running an inner task with run_in_thread_sync; total ns" },
  { "nested-40/vs-wait[total]", run_lib_nested, run_hw_nested_wait, UNIT_TOTAL_NS, N_NESTED, N_NESTED, N_NESTED, TARGET_RATIO_LE, 0.10,
    "the same vs 40 GTasks each having the main loop start an inner g_task_run_in_thread and waiting on a GCond for its callback; total ns", 3 },

  { "threads-1", run_lib_threads_1, run_hw_threads_1, UNIT_NS, 8000, 2400, 240, TARGET_NONE, 0,
    "1 thread doing invoke_sync onto one background context vs invoke_full + GCond (unlock); per op" },
  { "threads-2", run_lib_threads_2, run_hw_threads_2, UNIT_NS, 8000, 2400, 240, TARGET_NONE, 0,
    "2 threads at once, the same" },
  { "threads-4", run_lib_threads_4, run_hw_threads_4, UNIT_NS, 8000, 2400, 240, TARGET_NONE, 0,
    "4 threads at once, the same" },
  { "threads-8", run_lib_threads_8, run_hw_threads_8, UNIT_NS, 8000, 2400, 240, TARGET_NONE, 0,
    "8 threads at once, the same" },

  { "scale-blocked-10", run_blocked_10, run_blocked_0, UNIT_NS, 10000, 3000, 300, TARGET_NONE, 0,
    "invoke_sync onto a background context while 10 threads are blocked pushing to another, busy one, vs none blocked", 0,
    "blocked", 10, 0 },
  { "scale-blocked-100", run_blocked_100, run_blocked_0, UNIT_NS, 10000, 3000, 300, TARGET_NONE, 0,
    "the same with 100 threads blocked", 0, "blocked", 100, 0 },
  { "scale-blocked-1000", run_blocked_1000, run_blocked_0, UNIT_NS, 10000, 3000, 300, TARGET_RATIO_LE, 1.20,
    "the same with 1000 threads blocked", 0, "blocked", 1000, 0 },
  { "scale-blocked-1000/vs-hand", run_blocked_1000, run_blocked_hand_1000, UNIT_NS, 10000, 3000, 300, TARGET_NONE, 0,
    "the same vs 1000 threads blocked in hand-written waits (invoke_full + GCond on a busy loop): the library's share" },

  { "scale-bg-contexts-100", run_bg_contexts_100, run_bg_contexts_10, UNIT_NS, 10000, 3000, 300, TARGET_NONE, 0,
    "invoke_sync onto one of 100 live background contexts vs one of 10", 0, "bg-contexts", 100, 10 },
  { "scale-bg-contexts-1000", run_bg_contexts_1000, run_bg_contexts_10, UNIT_NS, 10000, 3000, 300, TARGET_RATIO_LE, 1.20,
    "invoke_sync onto one of 1000 live background contexts vs one of 10", 0, "bg-contexts", 1000, 10 },

  { "scale-wrapped-100/invoke", run_wrapped_invoke_100, run_wrapped_invoke_0, UNIT_NS, 10000, 3000, 300, TARGET_NONE, 0,
    "invoke_sync onto a background context with 100 live wrapped (not iterated) contexts vs none", 0,
    "wrapped-invoke", 100, 0 },
  { "scale-wrapped-1000/invoke", run_wrapped_invoke_1000, run_wrapped_invoke_0, UNIT_NS, 10000, 3000, 300, TARGET_NONE, 0,
    "the same with 1000 live wrapped contexts", 0, "wrapped-invoke", 1000, 0 },
  { "scale-wrapped-10000/invoke", run_wrapped_invoke_10000, run_wrapped_invoke_0, UNIT_NS, 10000, 3000, 300, TARGET_RATIO_LE, 1.20,
    "the same with 10000 live wrapped contexts", 0, "wrapped-invoke", 10000, 0 },
  { "scale-wrapped-100/private", run_wrapped_private_100, run_wrapped_private_0, UNIT_NS, 20000, 5000, 500, TARGET_NONE, 0,
    "the private path with 100 live wrapped contexts vs none", 0, "wrapped-private", 100, 0 },
  { "scale-wrapped-1000/private", run_wrapped_private_1000, run_wrapped_private_0, UNIT_NS, 20000, 5000, 500, TARGET_NONE, 0,
    "the same with 1000", 0, "wrapped-private", 1000, 0 },
  { "scale-wrapped-10000/private", run_wrapped_private_10000, run_wrapped_private_0, UNIT_NS, 20000, 5000, 500, TARGET_RATIO_LE, 1.20,
    "the same with 10000", 0, "wrapped-private", 10000, 0 },

  { "scale-pushers-64", run_lib_threads_64, run_lib_threads_1, UNIT_NS, 19200, 6400, 640, TARGET_NONE, 0,
    "64 threads doing invoke_sync onto one background context at once vs 1 thread; per op" },
  { "scale-pushers-64/vs-hand", run_lib_threads_64, run_hw_threads_64, UNIT_NS, 19200, 6400, 640, TARGET_NONE, 0,
    "64 threads at once vs 64 threads doing invoke_full + GCond (unlock); per op" },

  { "scale-asyncify-10000", run_lib_async_10000, run_lib_async_1000, UNIT_NS, 100000, 100000, 2000, TARGET_NONE, 0,
    "asyncify, 10000 trivial jobs queued at once from the loop vs 1000 at once; per job", 0, "queued", 10000, 1000 },
  { "scale-asyncify-100000", run_lib_async_100000, run_lib_async_1000, UNIT_NS, 100000, 100000, 2000, TARGET_NONE, 0,
    "asyncify, 100000 trivial jobs queued at once from the loop vs 1000 at once; per job", 0, "queued", 100000, 1000 },
  { "scale-asyncify-1e5/vs-gtask", run_lib_async_100000, run_hw_async_100000, UNIT_NS, 100000, 100000, 2000, TARGET_NONE, 0,
    "asyncify, 100000 trivial jobs queued at once vs 100000 g_task_run_in_thread; per job" },

  { "scale-mem-bg-context[bytes]", run_lib_mem_bg_context, run_hw_mem_bg_context, UNIT_BYTES, 200, 100, 10, TARGET_NONE, 0,
    "heap bytes per idle background context, its thread included, vs a GMainContext + GMainLoop + GThread" },
  { "scale-mem-waiter[bytes]", run_lib_mem_blocked, run_hw_mem_blocked, UNIT_BYTES, 1000, 1000, 100, TARGET_NONE, 0,
    "heap bytes per thread blocked in invoke_sync to a busy background context, its GThread included, vs blocked in invoke_full + GCond" },
  { "scale-mem-growth[bytes]", run_lib_growth, run_hw_growth, UNIT_BYTES, 1000000, 1000000, 3000, TARGET_LIB_LE, 0.01,
    "heap bytes kept per completed call (invoke_sync, syncify, private path in turn) over the run vs the hand-written ones", 1 },

  { "mem-per-queued-job[bytes]", run_lib_mem, run_hw_mem, UNIT_BYTES, 10000, 10000, 1000, TARGET_LIB_LE, 512,
    "heap bytes per queued asyncify job (its GTask included) vs per queued g_task_run_in_thread task" },
  { "allocs-per-push[allocs]", run_lib_allocs_invoke, run_hw_allocs_invoke, UNIT_ALLOCS, 10000, 3000, 300, TARGET_LIB_LE, 0,
    "heap allocations per invoke_sync round trip in steady state vs invoke_full + GCond" },
  { "allocs-per-syncify[allocs]", run_lib_allocs_syncify, run_hw_allocs_syncify, UNIT_ALLOCS, 10000, 3000, 300, TARGET_NONE, 0,
    "heap allocations per syncify round trip of the GTask op vs the hand-written one" },
};

static gboolean
row_selected (const Row *row)
{
  g_auto(GStrv) globs = NULL;

  if (opt_case == NULL)
    return TRUE;

  globs = g_strsplit (opt_case, ",", -1);
  for (guint i = 0; globs[i] != NULL; i++)
    if (g_str_equal (globs[i], row->name) || g_pattern_match_simple (globs[i], row->name))
      return TRUE;

  return FALSE;
}

static guint64
row_n (const Row *row)
{
  if (opt_iterations > 0)
    return (guint64) opt_iterations;
  if (opt_check)
    return row->n_check;
  if (opt_quick)
    return row->n_quick;
  return row->n_full;
}

static int
compare_double (gconstpointer a,
                gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
median (double *values,
        guint   n)
{
  double *sorted;
  double m;

  if (n == 0)
    return NAN;

  sorted = g_memdup2 (values, n * sizeof (double));
  qsort (sorted, n, sizeof (double), compare_double);
  m = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  g_free (sorted);

  return m;
}

/* Runs one side once; FALSE if its results were wrong. */
static gboolean
run_side (const Row  *row,
          SideFunc    side,
          const char *which,
          guint64     n,
          double     *value,
          GString    *note)
{
  g_autofree char *what = g_strdup_printf ("case %s, %s side", row->name, which);
  RunArgs a = { n, NAN, g_string_new (NULL), note };
  gboolean ok;

  test_watchdog_arm (what);
  side (&a);
  test_watchdog_disarm ();

  ok = a.error->len == 0;
  if (!ok)
    g_print ("FAIL %s (%s side): %s\n", row->name, which, a.error->str);

  *value = a.value;
  g_string_free (a.error, TRUE);
  return ok;
}

typedef struct {
  guint  n_rows;
  guint  n_failed;
  guint  n_targets;
  guint  n_met;
  GArray *ratios;     /* double: timed rows */
  GString *missed;
  FILE   *plot;        /* (nullable): --plot's CSV */
  const char *plot_series;  /* the series of the last point written */
} Summary;

static void
format_value (char    *buf,
              gsize    size,
              double   v,
              Unit     unit)
{
  if (isnan (v))
    g_strlcpy (buf, "n/a", size);
  else if (unit == UNIT_ALLOCS)
    g_snprintf (buf, size, "%.3f", v);
  else
    g_snprintf (buf, size, "%.1f", v);
}

static void
run_row (const Row *row,
         guint      pairs,
         Summary   *summary)
{
  /* The cap halves in quick mode (never below one pair) unless --pairs was given. */
  guint cap = row->max_pairs == 0 || opt_pairs > 0 ? G_MAXUINT :
              opt_quick ? MAX (1, row->max_pairs / 2) : row->max_pairs;
  guint n_pairs = MIN (pairs, cap);
  guint64 n = row_n (row);
  double *va = g_new0 (double, n_pairs);
  double *vb = g_new0 (double, n_pairs);
  double *ratios = g_new0 (double, n_pairs);
  guint n_ratios = 0;
  GString *note = g_string_new (NULL);
  gboolean ok = TRUE;
  double ma, mb, mr = NAN;
  char sa[32], sb[32], sr[32];
  g_autofree char *target = NULL;

  for (guint p = 0; p < n_pairs; p++)
    {
      ok &= run_side (row, row->lib, "lib", n, &va[p], note);
      if (row->base != NULL)
        {
          ok &= run_side (row, row->base, "base", n, &vb[p], note);
          if (!isnan (va[p]) && !isnan (vb[p]) && vb[p] != 0)
            ratios[n_ratios++] = va[p] / vb[p];
        }
      else
        vb[p] = va[p];

      if (opt_verbose)
        g_print ("#   %-28s pair %u: %12.1f %12.1f %8.3f\n", row->name, p,
                 va[p], vb[p], vb[p] != 0 ? va[p] / vb[p] : NAN);
    }

  ma = median (va, n_pairs);
  mb = median (vb, n_pairs);
  if (n_ratios > 0)
    mr = median (ratios, n_ratios);

  format_value (sa, sizeof sa, ma, row->unit);
  format_value (sb, sizeof sb, mb, row->unit);
  if (row->base == NULL)
    g_strlcpy (sr, "-", sizeof sr);
  else if (isnan (mr))
    g_strlcpy (sr, row->unit == UNIT_ALLOCS && mb == 0 && ma == 0 ? "-" : "n/a", sizeof sr);
  else
    g_snprintf (sr, sizeof sr, "%.2f", mr);

  if (row->target_kind == TARGET_RATIO_LE)
    {
      gboolean met = !isnan (mr) && mr <= row->target + 1e-9;

      summary->n_targets++;
      if (met)
        {
          summary->n_met++;
          target = g_strdup_printf ("target<=%.2f met", row->target);
        }
      else
        {
          target = g_strdup_printf ("target<=%.2f MISSED (%.2fx the target)",
                                    row->target, mr / row->target);
          g_string_append_printf (summary->missed, " %s", row->name);
        }
    }
  else if (row->target_kind == TARGET_LIB_LE)
    {
      gboolean met = !isnan (ma) && ma <= row->target + 1e-9;

      summary->n_targets++;
      if (met)
        {
          summary->n_met++;
          target = g_strdup_printf ("target: library<=%g met", row->target);
        }
      else
        {
          target = g_strdup_printf ("target: library<=%g MISSED", row->target);
          g_string_append_printf (summary->missed, " %s", row->name);
        }
    }

  g_print ("%-28s %14s %14s %8s  %s\n", row->name, sa, sb, sr, target ? target : "");
  if (note->len > 0)
    g_print ("#   %s: %s\n", row->name, note->str);

  /* One line per point: series, scale, median ns per operation, and the
   * median per-pair ratio to the series' small scale. The small scale's own
   * point is written once, from the first case of its series. */
  if (summary->plot != NULL && row->series != NULL && !isnan (ma))
    {
      if (summary->plot_series == NULL || !g_str_equal (summary->plot_series, row->series))
        fprintf (summary->plot, "%s,%g,%.1f,1\n", row->series, row->x_base, mb);
      fprintf (summary->plot, "%s,%g,%.1f,%.3f\n", row->series, row->x, ma, mr);
      fflush (summary->plot);
      summary->plot_series = row->series;
    }

  summary->n_rows++;
  if (!ok)
    summary->n_failed++;
  if ((row->unit == UNIT_NS || row->unit == UNIT_TOTAL_NS) && row->base != NULL && !isnan (mr))
    g_array_append_val (summary->ratios, mr);

  g_string_free (note, TRUE);
  g_free (va);
  g_free (vb);
  g_free (ratios);
}

/* ------------------------------------------------------------------------ *
 * main
 * ------------------------------------------------------------------------ */

static int pinned_cpu = -1;

static void
pin_to_one_cpu (void)
{
  cpu_set_t allowed, set;

  if (sched_getaffinity (0, sizeof allowed, &allowed) != 0)
    g_error ("sched_getaffinity: %s", g_strerror (errno));

  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET (cpu, &allowed))
      {
        pinned_cpu = cpu;
        break;
      }

  CPU_ZERO (&set);
  CPU_SET (pinned_cpu, &set);
  if (sched_setaffinity (0, sizeof set, &set) != 0)
    g_error ("sched_setaffinity: %s", g_strerror (errno));
}

/* GLib 2.74's GSlice keeps its own magazines, which hide allocations from
 * the malloc hooks and from mallinfo2(). GLib 2.76 and later always use
 * malloc; the benchmarks do the same, by re-executing themselves with
 * G_SLICE=always-malloc (GSlice reads it when GLib is loaded). */
static void
ensure_slice_always_malloc (char **argv)
{
  const char *preload = g_getenv ("LD_PRELOAD");

  if (g_getenv ("G_SLICE") != NULL)
    return;
  if (preload != NULL && strstr (preload, "vgpreload") != NULL)
    return;   /* under valgrind: the caller sets it (see callgrind.sh) */

  g_setenv ("G_SLICE", "always-malloc", TRUE);
  execv ("/proc/self/exe", argv);
  g_printerr ("Could not re-execute with G_SLICE=always-malloc: %s\n", g_strerror (errno));
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) saved_argv = g_strdupv (argv);
  Summary summary = { 0, };
  guint pairs;
  gboolean any = FALSE;
  char median_text[16];

  context = g_option_context_new ("- syncify-glib benchmarks against hand-written GLib");
  g_option_context_add_main_entries (context, options, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }

  if (opt_list)
    {
      for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
        g_print ("%-28s %s\n", rows[i].name, rows[i].about);
      return 0;
    }

  ensure_slice_always_malloc (saved_argv);

  /* Before any thread exists: every thread inherits it. */
  if (opt_pin)
    pin_to_one_cpu ();

  if (opt_side != NULL &&
      (opt_case == NULL || (!g_str_equal (opt_side, "lib") && !g_str_equal (opt_side, "base"))))
    {
      g_printerr ("--side needs --case NAME and one of lib, base\n");
      return 2;
    }

  fixtures_init ();

  if (opt_side != NULL)
    {
      int status = 0;

      for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
        {
          const Row *row = &rows[i];
          SideFunc side = g_str_equal (opt_side, "lib") ? row->lib : row->base;
          GString *note = g_string_new (NULL);
          double value;
          gint64 t0;

          if (!g_str_equal (opt_case, row->name) || side == NULL)
            {
              g_string_free (note, TRUE);
              continue;
            }
          any = TRUE;
          t0 = now_ns ();
          if (!run_side (row, side, opt_side, row_n (row), &value, note))
            status = 1;
          g_print ("%s side=%s n=%" G_GUINT64_FORMAT " value=%.3f wall=%.3f s %s\n",
                   row->name, opt_side, row_n (row), value,
                   (now_ns () - t0) / 1e9, note->str);
          g_string_free (note, TRUE);
        }
      if (!any)
        {
          g_printerr ("No case named %s with a %s side (see --list)\n", opt_case, opt_side);
          status = 2;
        }
      fixtures_clear ();
      return status;
    }

  pairs = opt_pairs > 0 ? (guint) opt_pairs : opt_check ? 1 : opt_quick ? 3 : 7;
  summary.ratios = g_array_new (FALSE, FALSE, sizeof (double));
  summary.missed = g_string_new (NULL);
  if (opt_plot != NULL)
    {
      g_autofree char *path = g_build_filename (opt_plot, opt_pin ? "scale-pinned.csv" : "scale-unpinned.csv", NULL);

      if (g_mkdir_with_parents (opt_plot, 0755) != 0 || (summary.plot = fopen (path, "w")) == NULL)
        {
          g_printerr ("Cannot write %s: %s\n", path, g_strerror (errno));
          return 2;
        }
      fprintf (summary.plot, "series,x,ns,ratio\n");
    }

  g_print ("# syncify-glib benchmarks: GLib %u.%u.%u, %u CPUs online, pinned=%s",
           glib_major_version, glib_minor_version, glib_micro_version,
           (guint) sysconf (_SC_NPROCESSORS_ONLN), opt_pin ? "yes" : "no");
  if (opt_pin)
    g_print (" (CPU %d)", pinned_cpu);
  g_print (", mode=%s, %u interleaved pair%s per case, G_SLICE=%s\n",
           opt_check ? "check" : opt_quick ? "quick" : "full", pairs, pairs == 1 ? "" : "s",
           g_getenv ("G_SLICE") ? g_getenv ("G_SLICE") : "(unset)");
  g_print ("# values are medians per operation (ns unless the name says otherwise); "
           "ratio = median of the per-pair ratios library/baseline\n");
  g_print ("%-28s %14s %14s %8s  %s\n", "case", "library_ns", "baseline_ns", "ratio", "target");

  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      if (!row_selected (&rows[i]))
        continue;
      any = TRUE;
      run_row (&rows[i], pairs, &summary);
    }

  fixtures_clear ();

  if (!any)
    {
      g_printerr ("No case matches %s (see --list)\n", opt_case);
      return 2;
    }

  {
    double m = median ((double *) (void *) summary.ratios->data, summary.ratios->len);

    g_snprintf (median_text, sizeof median_text, isnan (m) ? "n/a" : "%.2f", m);
  }
  g_print ("summary: %u cases, median ratio %s, targets met %u/%u, pinned=%s%s%s\n",
           summary.n_rows, median_text,
           summary.n_met, summary.n_targets, opt_pin ? "yes" : "no",
           summary.missed->len > 0 ? ", missed:" : "", summary.missed->str);
  if (summary.n_failed > 0)
    g_print ("FAILED: %u cases computed wrong results\n", summary.n_failed);
  else if (opt_check)
    g_print ("check: every case computed the right results\n");

  if (summary.plot != NULL)
    fclose (summary.plot);
  g_array_unref (summary.ratios);
  g_string_free (summary.missed, TRUE);

  return summary.n_failed > 0 ? 1 : 0;
}
