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
 * SyncifyContext. One lock protects both lists, the wait states and owned
 * lists of all threads, and the deliverer index; it is only held for short,
 * non-blocking sections. While it is held, the calls out are
 * g_main_context_is_owner() (a GMainContext's own lock) and, through
 * syncify_thread_foreach_owned(), an inbox's lock and the pool's lock: that
 * order, registry first, is the only one. */
static GMutex      registry_lock;
static GQueue      registry_threads = G_QUEUE_INIT;  /* SyncifyThread, via link */
static GQueue      registry_blocked = G_QUEUE_INIT;  /* SyncifyThread, via blocked_link:
                                                      * those with a wait state */
static GPtrArray  *registry_contexts;                 /* SyncifyContext, not owned */
/* GMainContext (a thread's private context) -> GQueue of the workers running
 * a job that delivers to it (via their deliver_link) */
static GHashTable *registry_deliverers;
/* Thread states are never freed: a thread that exits returns its state here
 * for the next thread, so a late signal can never touch freed memory. */
static GQueue      free_threads = G_QUEUE_INIT;      /* SyncifyThread, via link */
static guint       search_serial;                     /* the last cycle search */
static guint64     thread_serial;                     /* the last SyncifyThread.serial */
/* The default context's record, if it is wrapped: while it has an owner,
 * blocking threads need not test whether they own the default context. */
static SyncifyOwnerRecord *default_record;

static void syncify_thread_free (gpointer data);
/* The GPrivate only provides the destructor at thread exit; lookups go
 * through the faster __thread cache. */
static GPrivate thread_key = G_PRIVATE_INIT (syncify_thread_free);
static __thread SyncifyThread *thread_cache;

/* ------------------------------------------------------------------------ */

/* Copies @name into @buf, cut to fit at a character boundary, with any
 * invalid byte replaced: a name always reads as valid UTF-8 in messages
 * (the kernel cuts thread names at 15 bytes, in the middle of a character
 * if it must). */
static void
copy_name (char       *buf,
           gsize       size,
           const char *name)
{
  g_autofree char *valid = g_utf8_make_valid (name, -1);
  const char *end = valid;

  while (*end != '\0')
    {
      const char *next = g_utf8_next_char (end);

      if ((gsize) (next - valid) >= size)
        break;
      end = next;
    }
  memcpy (buf, valid, end - valid);
  buf[end - valid] = '\0';
}

static void
read_os_thread_name (SyncifyThread *thread)
{
#ifdef SYS_gettid
  if (syscall (SYS_gettid) == getpid ())
    {
      copy_name (thread->name, sizeof thread->name, "main");
      return;
    }
#endif
#ifdef HAVE_PTHREAD_GETNAME_NP
  {
    char buf[32] = { 0, };

    if (pthread_getname_np (pthread_self (), buf, sizeof buf) == 0 && buf[0] != '\0')
      {
        copy_name (thread->name, sizeof thread->name, buf);
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
  thread->wait = (SyncifyWaitState) { .kind = SYNCIFY_WAIT_NONE };
  g_queue_init (&thread->owned);
  thread->search_mark = 0;
  thread->job = NULL;
  thread->private_context = NULL;
  thread->background = NULL;
  read_os_thread_name (thread);

  thread->link.data = thread;
  syncify_mutex_lock (&registry_lock);
  thread->serial = ++thread_serial;
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
  GList *link;

  thread_cache = NULL;

  syncify_mutex_lock (&registry_lock);
  g_queue_unlink (&registry_threads, &thread->link);
  private_context = g_steal_pointer (&thread->private_context);
  /* A thread that exits iterates nothing any more, and holds nothing. */
  thread->serial = 0;
  while ((link = g_queue_pop_head_link (&thread->owned)) != NULL)
    {
      SyncifyOwnerRecord *record = link->data;

      g_atomic_pointer_set (&record->owner, NULL);
    }
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
  copy_name (thread->name, sizeof thread->name, name);
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

/* A cgroup v2 CPU quota ("max 100000" or "150000 100000" in cpu.max), as
 * a number of processors rounded up; 0 when there is none. */
static guint
cgroup_quota_processors (void)
{
  g_autofree char *cgroup = NULL;
  g_autofree char *path = NULL;
  g_autofree char *max = NULL;
  const char *rel;
  gint64 quota, period;
  char *end;

  /* "0::/some/group" */
  if (!g_file_get_contents ("/proc/self/cgroup", &cgroup, NULL, NULL))
    return 0;
  rel = strstr (cgroup, "0::");
  if (rel == NULL)
    return 0;
  rel += 3;
  cgroup[strcspn (cgroup, "\n")] = '\0';
  path = g_build_filename ("/sys/fs/cgroup", rel, "cpu.max", NULL);
  if (!g_file_get_contents (path, &max, NULL, NULL) || g_str_has_prefix (max, "max"))
    return 0;
  quota = g_ascii_strtoll (max, &end, 10);
  period = g_ascii_strtoll (end, NULL, 10);
  if (quota <= 0 || period <= 0)
    return 0;
  return (guint) ((quota + period - 1) / period);
}

guint
syncify_usable_processors (void)
{
  static gsize cached = 0;

  if (g_once_init_enter (&cached))
    {
      guint n = g_get_num_processors ();
      guint quota = cgroup_quota_processors ();
#ifdef CPU_COUNT
      cpu_set_t set;

      /* GLib 2.74's g_get_num_processors() ignores the affinity mask (as
       * set by taskset). */
      if (sched_getaffinity (0, sizeof set, &set) == 0)
        n = MAX (1, CPU_COUNT (&set));
#endif
      if (quota > 0)
        n = MIN (n, quota);
      g_once_init_leave (&cached, MAX (1, n));
    }

  return (guint) cached;
}

/* Waiters spinning right now, and how many may: one fewer than the usable
 * processors, so that spinners never take the processor the answer needs. */
static gint n_spinning;
static gint max_spinners = 1;

/* How long a waiter spins before it sleeps: 20 us, 0 on a single usable
 * processor. SYNCIFY_SPIN_US (0 to 1000) overrides it, for measurements
 * (documented in doc/threading.md). */
static gint
spin_budget_us (void)
{
  static gint budget = -1;
  gint b = g_atomic_int_get (&budget);

  if G_UNLIKELY (b < 0)
    {
      const char *env = g_getenv ("SYNCIFY_SPIN_US");
      guint n_cpus = syncify_usable_processors ();

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
 *
 * Its nodes are the threads blocked in the library. A thread has edges:
 * - in a PUSH wait on a context: to the thread that owns the context (its
 *   owner record), if that thread is itself blocked;
 * - in a PRIVATE wait: to each worker running a job that delivers to its
 *   private context (the deliverer index).
 * A cycle search follows these edges from the thread about to block and
 * marks the threads it visits with its own serial number: it costs the part
 * of the graph reachable from that thread (for PUSH waits, the length of the
 * chain), never the number of other blocked threads, and no dead end can
 * hide a cycle.
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
  /* A waiter need not hold a reference on the context it waited on: its
   * call may be answered, and the context finalized, before the waiter
   * ends its wait. Searches must not follow it there any more. */
  for (GList *l = registry_blocked.head; l != NULL; l = l->next)
    {
      SyncifyThread *t = l->data;

      if (t->wait.context == context)
        t->wait.context = NULL;
    }
  syncify_mutex_unlock (&registry_lock);
}

void
syncify_owner_record_init (SyncifyOwnerRecord *record,
                           GMainContext       *main_context)
{
  SyncifyThread *creator = syncify_thread_self ();

  record->owner = NULL;
  record->main_context = main_context;
  record->link = (GList) { .data = record };
  syncify_mutex_lock (&registry_lock);
  record->creator = creator;
  record->creator_serial = creator->serial;
  if (main_context == g_main_context_default ())
    default_record = record;
  syncify_mutex_unlock (&registry_lock);
}

/* Must hold registry_lock. */
static void
owner_record_unlink (SyncifyOwnerRecord *record)
{
  if (record->owner != NULL)
    g_queue_unlink (&record->owner->owned, &record->link);
}

void
syncify_owner_record_fini (SyncifyOwnerRecord *record)
{
  syncify_mutex_lock (&registry_lock);
  owner_record_unlink (record);
  g_atomic_pointer_set (&record->owner, NULL);
  if (default_record == record)
    default_record = NULL;
  syncify_mutex_unlock (&registry_lock);
}

void
syncify_owner_record_set (SyncifyOwnerRecord *record,
                          SyncifyThread      *thread)
{
  syncify_mutex_lock (&registry_lock);
  if (record->owner != thread)
    {
      owner_record_unlink (record);
      g_queue_push_tail_link (&thread->owned, &record->link);
      g_atomic_pointer_set (&record->owner, thread);
    }
  syncify_mutex_unlock (&registry_lock);
}

void
syncify_owner_record_clear (SyncifyOwnerRecord *record)
{
  syncify_mutex_lock (&registry_lock);
  if (record->owner != NULL)
    {
      owner_record_unlink (record);
      g_atomic_pointer_set (&record->owner, NULL);
    }
  syncify_mutex_unlock (&registry_lock);
}

void
syncify_thread_foreach_owned (SyncifyThread *thread,
                              GFunc          func,
                              gpointer       data)
{
  syncify_mutex_lock (&registry_lock);
  for (GList *l = thread->owned.head; l != NULL; l = l->next)
    func (l->data, data);
  syncify_mutex_unlock (&registry_lock);
}

void
syncify_registry_deliverer_add (SyncifyThread *worker,
                                GMainContext  *private_context)
{
  GQueue *queue;

  syncify_mutex_lock (&registry_lock);
  if (registry_deliverers == NULL)
    registry_deliverers = g_hash_table_new (NULL, NULL);
  queue = g_hash_table_lookup (registry_deliverers, private_context);
  if (queue == NULL)
    {
      queue = g_queue_new ();
      g_hash_table_insert (registry_deliverers, private_context, queue);
    }
  worker->deliver_link.data = worker;
  g_queue_push_tail_link (queue, &worker->deliver_link);
  syncify_mutex_unlock (&registry_lock);
}

void
syncify_registry_deliverer_remove (SyncifyThread *worker,
                                   GMainContext  *private_context)
{
  GQueue *queue;

  syncify_mutex_lock (&registry_lock);
  queue = g_hash_table_lookup (registry_deliverers, private_context);
  g_queue_unlink (queue, &worker->deliver_link);
  if (queue->length == 0)
    {
      g_hash_table_remove (registry_deliverers, private_context);
      g_queue_free (queue);
    }
  syncify_mutex_unlock (&registry_lock);
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

/* Must hold registry_lock. The owner of what @wait pushes to, if it is
 * itself blocked in the library. */
static SyncifyThread *
blocked_owner (const SyncifyWaitState *wait)
{
  SyncifyOwnerRecord *record;
  SyncifyThread *owner = NULL;

  if (wait->context == NULL)
    return NULL;

  record = syncify_context_peek_owner_record (wait->context);
  if (record != NULL)
    owner = g_atomic_pointer_get (&record->owner);

  if (owner == NULL)
    {
      /* No thread iterates it, yet the pusher found it held. The default
       * context may have been wrapped while its owner was blocked in a
       * dispatch, before its inbox saw an iteration: the blocked threads
       * said whether they held it. Any other context was acquired without
       * being iterated: by the thread that wrapped it, if that one is
       * blocked (the only holder the library can name without testing
       * every live context on every blocking call). */
      if (wait->target == g_main_context_default ())
        {
          for (GList *l = registry_blocked.head; l != NULL; l = l->next)
            {
              SyncifyThread *t = l->data;

              if (t->wait.owns_default)
                return t;
            }
          return NULL;
        }

      /* (A background context is only ever held by its own thread, which
       * is about to iterate it.) */
      if (syncify_context_peek_background (wait->context))
        return NULL;
      if (record == NULL || record->creator == NULL ||
          record->creator->serial != record->creator_serial ||
          record->creator->wait.kind == SYNCIFY_WAIT_NONE)
        return NULL;
      /* Held by anyone at all? */
      if (g_main_context_acquire (wait->target))
        {
          g_main_context_release (wait->target);
          return NULL;
        }
      return record->creator;
    }

  return owner->wait.kind != SYNCIFY_WAIT_NONE ? owner : NULL;
}

typedef struct {
  SyncifyThread *from;
  SyncifyThread *to;
} Edge;

/* A search allocates nothing for paths up to this length. */
#define INLINE_PATH 32

typedef struct {
  guint  serial;
  Edge  *path;
  guint  n_path;
  guint  size;
  Edge   inline_path[INLINE_PATH];
} Search;

static void
search_init (Search *s)
{
  s->serial = ++search_serial;
  if G_UNLIKELY (s->serial == 0)
    {
      /* Wrapped around: no thread may carry a mark that looks current. */
      for (GList *l = registry_threads.head; l != NULL; l = l->next)
        ((SyncifyThread *) l->data)->search_mark = 0;
      for (GList *l = free_threads.head; l != NULL; l = l->next)
        ((SyncifyThread *) l->data)->search_mark = 0;
      s->serial = ++search_serial;
    }
  s->path = s->inline_path;
  s->n_path = 0;
  s->size = INLINE_PATH;
}

static void
search_clear (Search *s)
{
  if (s->path != s->inline_path)
    g_free (s->path);
}

static void
search_push_edge (Search        *s,
                  SyncifyThread *from,
                  SyncifyThread *to)
{
  if G_UNLIKELY (s->n_path == s->size)
    {
      Edge *bigger = g_new (Edge, s->size * 2);

      memcpy (bigger, s->path, s->n_path * sizeof (Edge));
      if (s->path != s->inline_path)
        g_free (s->path);
      s->path = bigger;
      s->size *= 2;
    }
  s->path[s->n_path++] = (Edge) { .from = from, .to = to };
}

/* Must hold registry_lock. Depth-first search for a path from @from back to
 * @goal, visiting each thread at most once; on success the path holds its
 * edges in order. */
static gboolean
find_path (SyncifyThread *from,
           SyncifyThread *goal,
           Search        *s)
{
  if (from->search_mark == s->serial)
    return FALSE;
  from->search_mark = s->serial;

  if (from->wait.kind == SYNCIFY_WAIT_PUSH)
    {
      SyncifyThread *owner = blocked_owner (&from->wait);

      if (owner != NULL && owner != from)
        {
          search_push_edge (s, from, owner);
          if (owner == goal || find_path (owner, goal, s))
            return TRUE;
          s->n_path--;
        }
    }
  else if (from->wait.kind == SYNCIFY_WAIT_PRIVATE && registry_deliverers != NULL)
    {
      GQueue *workers = g_hash_table_lookup (registry_deliverers, from->wait.target);

      for (GList *l = workers != NULL ? workers->head : NULL; l != NULL; l = l->next)
        {
          SyncifyThread *worker = l->data;

          if (worker == from)
            continue;
          search_push_edge (s, from, worker);
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
  gboolean cycle = FALSE;

  g_assert (kind != SYNCIFY_WAIT_NONE);

  syncify_mutex_lock (&registry_lock);

  *saved = thread->wait;
  thread->wait = (SyncifyWaitState) {
    .kind = kind,
    .target = target,
    .context = context,
    /* Only needed while the default context has no owner record. */
    .owns_default = (default_record == NULL || default_record->owner == NULL) &&
                    g_main_context_is_owner (g_main_context_default ()),
  };
  if (kind == SYNCIFY_WAIT_PUSH)
    {
      SyncifyThread *owner = blocked_owner (&thread->wait);

      thread->wait.owner_blocked = owner != NULL && owner != thread;
    }
  if (saved->kind == SYNCIFY_WAIT_NONE)
    g_queue_push_tail_link (&registry_blocked, &thread->blocked_link);

  /* A private wait cannot close a cycle as it begins: nothing runs for
   * its private context yet. Cycles through it are found by the threads
   * that block later. */
  if (kind == SYNCIFY_WAIT_PUSH)
    {
      search_init (&search);
      cycle = find_path (thread, thread, &search);
    }

  if (cycle)
    {
      g_autofree char *description = describe_cycle (&search);

      search_clear (&search);
      thread->wait = *saved;
      if (saved->kind == SYNCIFY_WAIT_NONE)
        g_queue_unlink (&registry_blocked, &thread->blocked_link);
      syncify_mutex_unlock (&registry_lock);

      g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK,
                   _("Waiting would deadlock: %s"), description);
      return FALSE;
    }
  if (kind == SYNCIFY_WAIT_PUSH)
    search_clear (&search);

  syncify_mutex_unlock (&registry_lock);
  return TRUE;
}

void
syncify_wait_end (SyncifyThread    *thread,
                  SyncifyWaitState *saved)
{
  syncify_mutex_lock (&registry_lock);
  thread->wait = *saved;
  if (saved->kind == SYNCIFY_WAIT_NONE)
    g_queue_unlink (&registry_blocked, &thread->blocked_link);
  syncify_mutex_unlock (&registry_lock);
}
