/* syncify-wait.c: per-thread state, the waiter, and the wait-for graph that
 * turns would-be deadlocks into SYNCIFY_ERROR_WOULD_DEADLOCK
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_FUTEX
# include <linux/futex.h>
# include <sys/syscall.h>
#endif

#include "syncify-private.h"

/* The registry: every thread that has used the library, and every live
 * SyncifyContext. One lock protects both lists and the wait states of all
 * threads; it is only held for short, non-blocking sections, and while it is
 * held the only calls out are g_main_context_is_owner() (which takes a
 * GMainContext's own lock: that order, registry then context, is the only
 * one). */
static GMutex     registry_lock;
static GQueue     registry_threads = G_QUEUE_INIT;  /* SyncifyThread, via link */
static GQueue     registry_blocked = G_QUEUE_INIT;  /* SyncifyThread, via blocked_link:
                                                     * those with a wait state */
static GPtrArray *registry_contexts;                 /* SyncifyContext, not owned */
/* Thread states are never freed: a thread that exits returns its state here
 * for the next thread, so a late signal can never touch freed memory. */
static GQueue     free_threads = G_QUEUE_INIT;      /* SyncifyThread, via link */

static void syncify_thread_free (gpointer data);
/* The GPrivate only provides the destructor at thread exit; lookups go
 * through the faster __thread cache. */
static GPrivate thread_key = G_PRIVATE_INIT (syncify_thread_free);
static __thread SyncifyThread *thread_cache;

/* ------------------------------------------------------------------------ */

static void
read_os_thread_name (SyncifyThread *thread)
{
#ifdef SYS_gettid
  if (syscall (SYS_gettid) == getpid ())
    {
      g_strlcpy (thread->name, "main", sizeof thread->name);
      return;
    }
#endif
#ifdef HAVE_PTHREAD_GETNAME_NP
  {
    char buf[32] = { 0, };

    if (pthread_getname_np (pthread_self (), buf, sizeof buf) == 0 && buf[0] != '\0')
      {
        g_strlcpy (thread->name, buf, sizeof thread->name);
        return;
      }
  }
#endif
  g_snprintf (thread->name, sizeof thread->name, "%p", (gpointer) g_thread_self ());
}

SyncifyThread *
syncify_thread_self (void)
{
  SyncifyThread *thread = thread_cache;

  if G_LIKELY (thread != NULL)
    return thread;

  syncify_mutex_lock (&registry_lock);
  {
    GList *link = g_queue_pop_head_link (&free_threads);
    thread = link != NULL ? link->data : NULL;
  }
  syncify_mutex_unlock (&registry_lock);

  /* Every entry point that can produce a translated message gets here
   * first: bind the library's text domain before the first _(). */
  syncify_i18n_init ();

  if (thread == NULL)
    {
      thread = g_new0 (SyncifyThread, 1);
#ifndef HAVE_FUTEX
      g_mutex_init (&thread->wake_lock);
      g_cond_init (&thread->wake_cond);
#endif
    }

  g_atomic_int_set (&thread->wake_word, 0);
  memset (&thread->blocked_link, 0, sizeof thread->blocked_link);
  thread->blocked_link.data = thread;
  thread->wait.kind = SYNCIFY_WAIT_NONE;
  thread->wait.target = NULL;
  thread->wait.context = NULL;
  thread->wait.owned = NULL;
  thread->job = NULL;
  thread->job_delivery = NULL;
  thread->private_context = NULL;
  read_os_thread_name (thread);

  thread->link.data = thread;
  syncify_mutex_lock (&registry_lock);
  g_queue_push_tail_link (&registry_threads, &thread->link);
  syncify_mutex_unlock (&registry_lock);

  g_private_set (&thread_key, thread);
  thread_cache = thread;

  return thread;
}

static void
syncify_thread_free (gpointer data)
{
  SyncifyThread *thread = data;
  GMainContext *private_context;

  thread_cache = NULL;

  syncify_mutex_lock (&registry_lock);
  g_queue_unlink (&registry_threads, &thread->link);
  private_context = g_steal_pointer (&thread->private_context);
  syncify_mutex_unlock (&registry_lock);

  g_clear_pointer (&private_context, g_main_context_unref);

  syncify_mutex_lock (&registry_lock);
  g_queue_push_tail_link (&free_threads, &thread->link);
  syncify_mutex_unlock (&registry_lock);
}

void
syncify_thread_set_name (SyncifyThread *thread,
                         const char    *name)
{
  syncify_mutex_lock (&registry_lock);
  g_strlcpy (thread->name, name, sizeof thread->name);
  syncify_mutex_unlock (&registry_lock);
}

const char *
syncify_thread_get_name (SyncifyThread *thread)
{
  return thread->name;
}

/* ------------------------------------------------------------------------ *
 * The waiter
 *
 * A blocked thread waits on its own wake_word. A waker publishes whatever
 * the waiter is waiting for (with a release store of its own), then calls
 * syncify_thread_signal(). The waiter re-checks its own condition after every
 * wake-up, so a stale signal (from a waker of an earlier wait) is harmless.
 * ------------------------------------------------------------------------ */

#ifdef HAVE_FUTEX
static inline void
futex_wait (gint *word,
            gint  expected)
{
  syscall (SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static inline void
futex_wake (gint *word)
{
  syscall (SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
#endif

/* The processors this process may run on (g_get_num_processors() in GLib
 * 2.74 ignores the affinity mask, as set by taskset). */
static guint
usable_processors (void)
{
#ifdef CPU_COUNT
  cpu_set_t set;

  if (sched_getaffinity (0, sizeof set, &set) == 0)
    return MAX (1, CPU_COUNT (&set));
#endif
  return g_get_num_processors ();
}

/* Waiters spinning right now, and how many may: one fewer than the usable
 * processors, so that spinners never take the processor the answer needs. */
static gint n_spinning;
static gint max_spinners = 1;

/* How long a waiter spins before it sleeps: 0 on a single processor (or
 * when SYNCIFY_SPIN_US=0 says so). */
static gint
spin_budget_us (void)
{
  static gint budget = -1;
  gint b = g_atomic_int_get (&budget);

  if G_UNLIKELY (b < 0)
    {
      const char *env = g_getenv ("SYNCIFY_SPIN_US");
      guint n_cpus = usable_processors ();

      if (env != NULL)
        b = CLAMP (g_ascii_strtoll (env, NULL, 10), 0, 1000);
      else
        b = n_cpus > 1 ? 20 : 0;
      g_atomic_int_set (&max_spinners, MAX (1, (gint) n_cpus - 1));
      g_atomic_int_set (&budget, b);
    }

  return b;
}

void
syncify_thread_wait (SyncifyThread *thread)
{
#ifdef HAVE_FUTEX
  /* A short spin first: when another processor is free to run the owner,
   * the answer often arrives within a few microseconds, sooner than a sleep
   * and a wake-up would. Pointless (and harmful) when this thread may only
   * use one processor, or when enough other waiters already spin. */
  gint budget_us = spin_budget_us ();

  if (budget_us > 0)
    {
      if (g_atomic_int_add (&n_spinning, 1) < g_atomic_int_get (&max_spinners))
        {
          gint64 deadline = 0;

          for (guint i = 0; ; i++)
            {
              if (g_atomic_int_compare_and_exchange (&thread->wake_word, 1, 0))
                {
                  g_atomic_int_add (&n_spinning, -1);
                  return;
                }
#if defined(__x86_64__) || defined(__i386__)
              __builtin_ia32_pause ();
#endif
              if ((i & 15) == 15)
                {
                  gint64 now = g_get_monotonic_time ();

                  if (deadline == 0)
                    deadline = now + budget_us;
                  else if (now >= deadline)
                    break;
                }
            }
        }
      g_atomic_int_add (&n_spinning, -1);
    }

  while (!g_atomic_int_compare_and_exchange (&thread->wake_word, 1, 0))
    futex_wait (&thread->wake_word, 0);
#else
  syncify_mutex_lock (&thread->wake_lock);
  while (!g_atomic_int_compare_and_exchange (&thread->wake_word, 1, 0))
    syncify_cond_wait (&thread->wake_cond, &thread->wake_lock);
  syncify_mutex_unlock (&thread->wake_lock);
#endif
}

void
syncify_thread_signal (SyncifyThread *thread)
{
#ifdef HAVE_FUTEX
  g_atomic_int_set (&thread->wake_word, 1);
  futex_wake (&thread->wake_word);
#else
  syncify_mutex_lock (&thread->wake_lock);
  g_atomic_int_set (&thread->wake_word, 1);
  g_cond_signal (&thread->wake_cond);
  syncify_mutex_unlock (&thread->wake_lock);
#endif
}

/* ------------------------------------------------------------------------ *
 * The wait-for graph
 * ------------------------------------------------------------------------ */

void
syncify_registry_add_context (SyncifyContext *context)
{
  syncify_mutex_lock (&registry_lock);
  if (registry_contexts == NULL)
    registry_contexts = g_ptr_array_new ();
  g_ptr_array_add (registry_contexts, context);
  syncify_mutex_unlock (&registry_lock);
}

void
syncify_registry_remove_context (SyncifyContext *context)
{
  syncify_mutex_lock (&registry_lock);
  if (registry_contexts != NULL)
    g_ptr_array_remove_fast (registry_contexts, context);
  syncify_mutex_unlock (&registry_lock);
}

/* Must hold registry_lock. The contexts @thread owns that can be pushed to,
 * so could close a cycle through it: the global default context (wrapped
 * or not yet), and every registered context. Testing ownership takes each
 * context's lock, so background contexts, which only ever their own thread
 * owns, are only tested by the thread that last iterated them. */
static GPtrArray *
collect_owned_contexts (SyncifyThread *thread)
{
  GPtrArray *owned = NULL;

#define ADD_IF_OWNED(ctx) G_STMT_START { \
    GMainContext *_c = (ctx); \
    if (_c != NULL && \
        (owned == NULL || !g_ptr_array_find (owned, _c, NULL)) && \
        g_main_context_is_owner (_c)) \
      { \
        if (owned == NULL) \
          owned = g_ptr_array_new (); \
        g_ptr_array_add (owned, _c); \
      } \
  } G_STMT_END

  GMainContext *main_default = g_main_context_default ();

  ADD_IF_OWNED (main_default);
  for (guint i = 0; registry_contexts != NULL && i < registry_contexts->len; i++)
    {
      SyncifyContext *c = registry_contexts->pdata[i];
      GMainContext *mc = syncify_context_peek_main_context (c);

      if (mc == main_default)
        continue;   /* tested above */
      if (syncify_context_peek_background (c) &&
          syncify_context_peek_last_owner (c) != thread)
        continue;
      ADD_IF_OWNED (mc);
    }

#undef ADD_IF_OWNED

  return owned;
}

/* Must hold registry_lock. How a GMainContext is named in messages. */
static char *
describe_main_context (GMainContext   *main_context,
                       SyncifyContext *hint)
{
  if (hint != NULL && syncify_context_peek_main_context (hint) == main_context)
    return syncify_context_describe (hint);

  if (main_context == g_main_context_default ())
    return g_strdup (_("the default context"));

  for (guint i = 0; registry_contexts != NULL && i < registry_contexts->len; i++)
    {
      SyncifyContext *c = registry_contexts->pdata[i];

      if (syncify_context_peek_main_context (c) == main_context)
        return syncify_context_describe (c);
    }

  return g_strdup_printf (_("context %p"), (gpointer) main_context);
}

/* Must hold registry_lock. The blocked thread that owns @main_context. */
static SyncifyThread *
find_blocked_owner (GMainContext *main_context)
{
  for (GList *l = registry_blocked.head; l != NULL; l = l->next)
    {
      SyncifyThread *t = l->data;

      if (t->wait.kind != SYNCIFY_WAIT_NONE &&
          t->wait.owned != NULL &&
          g_ptr_array_find (t->wait.owned, main_context, NULL))
        return t;
    }

  return NULL;
}

typedef struct {
  SyncifyThread *from;
  SyncifyThread *to;
} Edge;

/* The search works in fixed buffers, so a blocking call allocates nothing
 * for it. A chain longer than this is not followed to its end. */
#define MAX_CHAIN 64

typedef struct {
  SyncifyThread *visited[MAX_CHAIN];
  guint          n_visited;
  Edge           path[MAX_CHAIN];
  guint          n_path;
} Search;

/* Must hold registry_lock. Depth-first search for a path from @from back to
 * @goal; on success @path holds its edges in order. */
static gboolean
find_path (SyncifyThread *from,
           SyncifyThread *goal,
           Search        *s)
{
  for (guint i = 0; i < s->n_visited; i++)
    if (s->visited[i] == from)
      return FALSE;
  if (s->n_visited == MAX_CHAIN || s->n_path == MAX_CHAIN)
    return FALSE;
  s->visited[s->n_visited++] = from;

  if (from->wait.kind == SYNCIFY_WAIT_PUSH)
    {
      SyncifyThread *owner = find_blocked_owner (from->wait.target);

      if (owner != NULL && owner != from)
        {
          s->path[s->n_path++] = (Edge) { from, owner };
          if (owner == goal || find_path (owner, goal, s))
            return TRUE;
          s->n_path--;
        }
    }
  else if (from->wait.kind == SYNCIFY_WAIT_PRIVATE)
    {
      for (GList *l = registry_threads.head; l != NULL; l = l->next)
        {
          SyncifyThread *worker = l->data;

          if (worker == from ||
              g_atomic_pointer_get (&worker->job_delivery) != from->wait.target)
            continue;

          if (s->n_path == MAX_CHAIN)
            return FALSE;
          s->path[s->n_path++] = (Edge) { from, worker };
          if (worker == goal || find_path (worker, goal, s))
            return TRUE;
          s->n_path--;
        }
    }

  return FALSE;
}

/* Must hold registry_lock. */
static char *
describe_cycle (const Search *s)
{
  GString *msg = g_string_new (NULL);

  for (guint i = 0; i < s->n_path; i++)
    {
      const Edge *e = &s->path[i];
      g_autofree char *what = NULL;

      if (i == 0)
        /* Translators: the start of the cycle in a "Waiting would deadlock"
         * message; the pieces below follow it */
        g_string_append_printf (msg, _("thread \"%s\""), e->from->name);
      else
        /* Translators: joins two links of the cycle: "…, owned by thread
         * "bg", which waits on …" */
        g_string_append (msg, _(", which"));

      if (e->from->wait.kind == SYNCIFY_WAIT_PUSH)
        {
          what = describe_main_context (e->from->wait.target, e->from->wait.context);
          /* Translators: a link of the cycle; %s is a context, as named by
           * "the default context" or "context "%s"", then a thread name */
          g_string_append_printf (msg, _(" waits on %s, owned by thread \"%s\""),
                                  what, e->to->name);
        }
      else
        {
          g_string_append_printf (msg,
                                  _(" iterates a private main context until an asyncify job "
                                    "running on thread \"%s\" completes"),
                                  e->to->name);
        }
    }

  return g_string_free (msg, FALSE);
}

gboolean
syncify_wait_begin (SyncifyThread    *thread,
                    SyncifyWaitKind   kind,
                    GMainContext     *target,
                    SyncifyContext   *context,
                    SyncifyWaitState *saved,
                    GError          **error)
{
  Search search;
  gboolean cycle;

  g_assert (kind != SYNCIFY_WAIT_NONE);

  syncify_mutex_lock (&registry_lock);

  *saved = thread->wait;
  thread->wait.kind = kind;
  thread->wait.target = target;
  thread->wait.context = context;
  thread->wait.owned = collect_owned_contexts (thread);
  thread->wait.owner_blocked = kind == SYNCIFY_WAIT_PUSH && find_blocked_owner (target) != NULL;
  if (saved->kind == SYNCIFY_WAIT_NONE)
    g_queue_push_tail_link (&registry_blocked, &thread->blocked_link);

  /* A private wait cannot close a cycle as it begins: nothing runs for
   * its private context yet. Cycles through it are found by the threads
   * that block later. */
  search.n_visited = 0;
  search.n_path = 0;
  cycle = kind == SYNCIFY_WAIT_PUSH && find_path (thread, thread, &search);

  if (cycle)
    {
      g_autofree char *description = describe_cycle (&search);

      g_clear_pointer (&thread->wait.owned, g_ptr_array_unref);
      thread->wait = *saved;
      if (saved->kind == SYNCIFY_WAIT_NONE)
        g_queue_unlink (&registry_blocked, &thread->blocked_link);
      syncify_mutex_unlock (&registry_lock);

      g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK,
                   _("Waiting would deadlock: %s"), description);
      return FALSE;
    }

  /* Workers queued on a context this thread owns cannot be served until
   * this wait ends, which may need jobs of theirs: lend their slots. */
  if (thread->wait.owned != NULL)
    for (GList *l = registry_blocked.head; l != NULL; l = l->next)
      {
        SyncifyThread *u = l->data;

        if (u != thread && u->wait.kind == SYNCIFY_WAIT_PUSH &&
            g_ptr_array_find (thread->wait.owned, u->wait.target, NULL))
          syncify_thread_lend_slot (u);
      }

  syncify_mutex_unlock (&registry_lock);
  return TRUE;
}

void
syncify_wait_end (SyncifyThread    *thread,
                  SyncifyWaitState *saved)
{
  GPtrArray *owned;

  syncify_mutex_lock (&registry_lock);
  owned = thread->wait.owned;
  thread->wait = *saved;
  if (saved->kind == SYNCIFY_WAIT_NONE)
    g_queue_unlink (&registry_blocked, &thread->blocked_link);
  syncify_mutex_unlock (&registry_lock);

  g_clear_pointer (&owned, g_ptr_array_unref);
}
