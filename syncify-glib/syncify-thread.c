/* syncify-thread.c: per-thread state, the registry lock, owner records and
 * the waiter
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
# include <sys/syscall.h>   /* SYS_gettid, SYS_futex */
#endif
#ifdef HAVE_FUTEX
# include <linux/futex.h>
#endif

#include "syncify-thread-private.h"

/* Thread states are never freed: a thread that exits returns its state to
 * free_threads for the next thread, so a late signal or a stale pointer in
 * a wait state never touches freed memory. */
static GMutex      registry_lock;
static guint64     registry_lock_taken;               /* times taken; under the lock */
static GQueue      free_threads = G_QUEUE_INIT;      /* SyncifyThread, via link */
static guint64     thread_serial;                     /* the last SyncifyThread.serial */
/* The default context's record, if it is wrapped: while it has an owner
 * (default_owned, kept in step under the registry lock and read without
 * it), blocking threads need not test whether they own the default
 * context. */
static SyncifyOwnerRecord *default_record;
static gint                default_owned;   /* (atomic) */

/* Registry lock held: after any change of default_record or its owner. */
static void
update_default_owned (void)
{
  g_atomic_int_set (&default_owned, default_record != NULL && default_record->owner != NULL);
}

static void syncify_thread_free (gpointer data);
/* The GPrivate only provides the destructor at thread exit; lookups go
 * through the faster __thread cache. */
static GPrivate thread_key = G_PRIVATE_INIT (syncify_thread_free);
static SYNCIFY_THREAD_LOCAL SyncifyThread *thread_cache;

void
syncify_registry_lock (void)
{
  syncify_mutex_lock (&registry_lock);
  registry_lock_taken++;
}

guint64
syncify_registry_lock_taken (void)
{
  guint64 n;

  syncify_mutex_lock (&registry_lock);
  n = registry_lock_taken;
  syncify_mutex_unlock (&registry_lock);
  return n;
}

void
syncify_registry_unlock (void)
{
  syncify_mutex_unlock (&registry_lock);
}

/* ------------------------------------------------------------------------ *
 * Thread states and names
 * ------------------------------------------------------------------------ */

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

  if (thread == NULL)
    {
      thread = g_new0 (SyncifyThread, 1);
      g_mutex_init (&thread->state_lock);
#ifndef HAVE_FUTEX
      g_mutex_init (&thread->wake_lock);
      g_cond_init (&thread->wake_cond);
#endif
    }

  g_atomic_int_set (&thread->wake_word, 0);
  thread->blocked_link = (GList) { .data = thread };
  g_atomic_int_set (&thread->blocked, 0);
  thread->wait = (SyncifyWaitState) { .kind = SYNCIFY_WAIT_NONE };
  thread->wait_serial = 0;
  g_queue_init (&thread->owned);
  thread->deliver_link = (GList) { .data = thread };
  thread->search_mark = 0;
  thread->pool_item = NULL;
  thread->work_context = NULL;
  thread->work_cancellable = NULL;
  thread->private_context = NULL;
  thread->background = NULL;
  read_os_thread_name (thread);

  thread->link.data = thread;
  syncify_mutex_lock (&registry_lock);
  thread->serial = ++thread_serial;
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
  private_context = g_steal_pointer (&thread->private_context);
  /* A thread that exits iterates nothing any more, and holds nothing. */
  thread->serial = 0;
  syncify_mutex_lock (&thread->state_lock);
  while ((link = g_queue_pop_head_link (&thread->owned)) != NULL)
    {
      SyncifyOwnerRecord *record = link->data;

      g_atomic_pointer_set (&record->owner, NULL);
    }
  syncify_mutex_unlock (&thread->state_lock);
  update_default_owned ();
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
 * Owner records
 * ------------------------------------------------------------------------ */

void
syncify_owner_record_init (SyncifyOwnerRecord *record,
                           GMainContext       *main_context)
{
  SyncifyThread *creator = syncify_thread_self ();

  record->owner = NULL;
  record->link = (GList) { .data = record };
  syncify_mutex_lock (&registry_lock);
  record->creator = creator;
  record->creator_serial = creator->serial;
  if (main_context == g_main_context_default ())
    {
      default_record = record;
      update_default_owned ();
    }
  syncify_mutex_unlock (&registry_lock);
}

/* Must hold registry_lock. Owned lists change under their thread's state
 * lock too: a thread walks its own when it blocks, without the registry
 * lock. */
static void
owner_record_unlink (SyncifyOwnerRecord *record)
{
  SyncifyThread *owner = record->owner;

  if (owner != NULL)
    {
      syncify_mutex_lock (&owner->state_lock);
      g_queue_unlink (&owner->owned, &record->link);
      syncify_mutex_unlock (&owner->state_lock);
    }
}

void
syncify_owner_record_fini (SyncifyOwnerRecord *record)
{
  syncify_mutex_lock (&registry_lock);
  owner_record_unlink (record);
  g_atomic_pointer_set (&record->owner, NULL);
  if (default_record == record)
    default_record = NULL;
  update_default_owned ();
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
      syncify_mutex_lock (&thread->state_lock);
      g_queue_push_tail_link (&thread->owned, &record->link);
      syncify_mutex_unlock (&thread->state_lock);
      g_atomic_pointer_set (&record->owner, thread);
      if (record == default_record)
        update_default_owned ();
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
      if (record == default_record)
        update_default_owned ();
    }
  syncify_mutex_unlock (&registry_lock);
}

gboolean
syncify_owner_record_default_owned (void)
{
  return g_atomic_int_get (&default_owned);
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

/* A short spin first: when another processor is free to run the owner, the
 * answer often arrives within a few microseconds, sooner than a sleep and a
 * wake-up would. Pointless (and harmful) when this thread may only use one
 * processor, or when enough other waiters already spin. TRUE if the signal
 * came. */
static gboolean
spin_for_signal (SyncifyThread *thread)
{
  gint budget_us = spin_budget_us ();
  gboolean signalled = FALSE;

  if (budget_us == 0)
    return FALSE;

  if (g_atomic_int_add (&n_spinning, 1) < g_atomic_int_get (&max_spinners))
    {
      gint64 deadline = 0;

      for (guint i = 0; ; i++)
        {
          if (g_atomic_int_compare_and_exchange (&thread->wake_word, 1, 0))
            {
              signalled = TRUE;
              break;
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

  return signalled;
}

void
syncify_thread_wait (SyncifyThread *thread)
{
  if (spin_for_signal (thread))
    return;

#ifdef HAVE_FUTEX
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

