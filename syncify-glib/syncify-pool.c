/* syncify-pool.c: the worker pool behind asyncify
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <pthread.h>
#include <time.h>

#include "syncify-pool-private.h"

/* How the pool decides how many jobs run at once.
 *
 * - At most `limit` jobs run at a time, where limit = the number of
 *   processors + `extra`. Jobs beyond that wait in one FIFO queue. With
 *   short CPU-bound jobs this keeps every core busy without the contention
 *   of a larger pool.
 * - A worker that blocks inside the library (syncify or invoke_sync pushing
 *   to a loop, or iterating a private context) keeps its slot while the
 *   thread serving it is merely busy, and lends it (with its context's
 *   max_workers slot) to the next job as soon as its wait may need other
 *   jobs: once the owner started a syncify operation for it, while it
 *   iterates a private context, or while the owner it waits on is itself
 *   blocked in the library. When the wait ends it takes a slot back before
 *   any queued job. So workers waiting on jobs of their own never starve
 *   those jobs, however deep the nesting and whatever max_workers says.
 * - A worker that blocks elsewhere (a blocking read, a sleep) cannot tell us.
 *   While jobs are queued, a monitor thread looks every millisecond at how
 *   much CPU time each running worker used; `extra` becomes the number of
 *   running workers that were mostly off the CPU, so blocking jobs get more
 *   threads while CPU-bound jobs do not.
 * - When a thread cannot be started (the process reached its thread limit),
 *   queued items wait for a thread that can: the monitor tries again every
 *   millisecond, and so does every completion. If no queued item could start
 *   for SYNCIFY_POOL_SPAWN_BOUND_US while starting threads keeps failing,
 *   the queued items fail with the thread error; with neither a worker nor
 *   the monitor to try again, they fail at once. Nothing waits silently.
 */

#define MONITOR_INTERVAL_US   1000
#define IDLE_EXIT_US          (10 * G_USEC_PER_SEC)
#define MAX_EXTRA             64

enum {
  WHERE_NONE,
  WHERE_PENDING,   /* in its group's pending queue */
  WHERE_QUEUED,    /* in the pool's run queue */
  WHERE_RUNNING,
};

typedef struct {
  GList      link;          /* in pool.workers */
  gboolean   running;       /* protected by pool.lock */
  gboolean   blocked;       /* protected by pool.lock */
#ifdef _POSIX_THREAD_CPUTIME
  clockid_t  cpu_clock;
  gboolean   have_clock;
#endif
  gint64     last_cpu_us;   /* only touched by the monitor */
} PoolWorker;

static struct {
  GMutex   lock;
  GCond    work_cond;       /* idle workers wait here */
  GCond    return_cond;     /* workers taking back a lent slot wait here */
  GCond    monitor_cond;    /* the monitor waits here while there is nothing to watch */
  GQueue   queue;           /* admitted items, in order */
  GQueue   workers;         /* PoolWorker */
  guint    n_threads;
  guint    n_idle;
  guint    n_wakeups;       /* idle threads signalled or threads spawned, not yet awake */
  guint    n_running;       /* running an item and not blocked in the library */
  guint    base_limit;
  guint    extra;
  guint    next_id;
  gboolean monitor_started;
  GError  *spawn_error;     /* (owned) (nullable): the last failure to start a
                             * thread, while starting threads fails */
  gint64   last_progress;   /* when an item last left the queue, or the queue
                             * last became non-empty */
} pool;

static SYNCIFY_THREAD_LOCAL PoolWorker      *current_worker;
SYNCIFY_THREAD_LOCAL SyncifyPoolItem *syncify_pool_current_item;
static SYNCIFY_THREAD_LOCAL guint            block_depth;

static gpointer worker_main (gpointer data);
static void     group_admit (SyncifyPoolGroup *group);
static gpointer monitor_main (gpointer data);

/* Must hold pool.lock. */
static guint
pool_limit (void)
{
  if G_UNLIKELY (pool.base_limit == 0)
    pool.base_limit = MAX (2, syncify_usable_processors ());

  return pool.base_limit + pool.extra;
}

/* Must hold pool.lock. Make sure a thread will come for the queued items. */
static void
pool_wake (void)
{
  guint queued = pool.queue.length;
  guint limit = pool_limit ();

  while (queued > pool.n_wakeups && pool.n_running + pool.n_wakeups < limit)
    {
      if (pool.n_idle > pool.n_wakeups)
        {
          g_cond_signal (&pool.work_cond);
        }
      else
        {
          g_autoptr(GError) error = NULL;
          g_autofree char *name = g_strdup_printf ("syncify-w%u", ++pool.next_id);
          GThread *thread = g_thread_try_new (name, worker_main, NULL, &error);

          if (thread == NULL)
            {
              /* No warning (it would abort under fatal-warnings): the
               * items wait for a retry, or fail (pool_take_stranded). */
              g_debug ("Could not start a worker thread: %s", error->message);
              g_clear_error (&pool.spawn_error);
              pool.spawn_error = g_steal_pointer (&error);
              break;
            }
          g_thread_unref (thread);
          g_clear_error (&pool.spawn_error);
          pool.n_threads++;
        }
      pool.n_wakeups++;
    }

  if (queued > 0 && !pool.monitor_started)
    {
      g_autoptr(GError) error = NULL;
      GThread *thread = g_thread_try_new ("syncify-monitor", monitor_main, NULL, &error);

      if (thread != NULL)
        {
          pool.monitor_started = TRUE;
          g_thread_unref (thread);
        }
      else
        {
          g_debug ("Could not start the pool monitor: %s", error->message);
          if (pool.spawn_error == NULL)
            pool.spawn_error = g_steal_pointer (&error);
        }
    }
  else if (queued > 0 && pool.n_running >= limit)
    {
      g_cond_signal (&pool.monitor_cond);
    }
}

/* Must hold pool.lock. The queued items that will never run, now that no
 * thread can be started: all of them once nothing has left the queue for the
 * bound, or at once when no thread at all could take them or try again.
 * Their slots are given back; *@error gets a copy of the thread error when
 * there are any. The caller fails them with pool_fail_items(), without the
 * lock. */
static GList *
pool_take_stranded (GError **error)
{
  GList *items = NULL;

  if (pool.spawn_error == NULL || pool.queue.length == 0)
    return NULL;

  if (pool.n_threads > 0 || pool.monitor_started)
    {
      if (g_get_monotonic_time () - pool.last_progress < SYNCIFY_POOL_SPAWN_BOUND_US)
        return NULL;
    }

  while (pool.queue.length > 0)
    {
      GList *link = g_queue_pop_head_link (&pool.queue);
      SyncifyPoolItem *item = link->data;

      item->where = WHERE_NONE;
      item->group->admitted--;
      items = g_list_prepend (items, item);
    }
  for (GList *l = items; l != NULL; l = l->next)
    group_admit (((SyncifyPoolItem *) l->data)->group);

  *error = g_error_copy (pool.spawn_error);
  return g_list_reverse (items);
}

/* Called without pool.lock: ends the items pool_take_stranded() took with
 * @error, which it frees. */
static void
pool_fail_items (GList  *items,
                 GError *error)
{
  for (GList *l = items; l != NULL; l = l->next)
    {
      SyncifyPoolItem *item = l->data;

      item->fail (item, g_error_copy (error));
    }
  g_list_free (items);
  g_clear_error (&error);
}

/* Must hold pool.lock. Moves pending items of @group into the run queue while
 * it has free slots, after the workers taking back lent ones. */
static void
group_admit (SyncifyPoolGroup *group)
{
  if (pool.queue.length == 0 && group->pending.length > 0)
    pool.last_progress = g_get_monotonic_time ();

  if (group->n_returning > 0)
    g_cond_broadcast (&pool.return_cond);

  while (group->pending.length > 0 &&
         (group->max == 0 || group->admitted + group->n_returning < group->max))
    {
      GList *link = g_queue_pop_head_link (&group->pending);
      SyncifyPoolItem *item = link->data;

      item->where = WHERE_QUEUED;
      group->admitted++;
      g_queue_push_tail_link (&pool.queue, link);
    }
}

void
syncify_pool_group_init (SyncifyPoolGroup *group)
{
  *group = (SyncifyPoolGroup) { .max = 0 };
  g_queue_init (&group->pending);
}

void
syncify_pool_group_set_max (SyncifyPoolGroup *group,
                            guint             max)
{
  syncify_mutex_lock (&pool.lock);
  group->max = max;
  group_admit (group);
  pool_wake ();
  syncify_mutex_unlock (&pool.lock);
}

guint
syncify_pool_group_get_max (SyncifyPoolGroup *group)
{
  guint max;

  syncify_mutex_lock (&pool.lock);
  max = group->max;
  syncify_mutex_unlock (&pool.lock);

  return max;
}

GList *
syncify_pool_group_drain (SyncifyPoolGroup *group)
{
  GList *items = NULL;
  GList *next;

  syncify_mutex_lock (&pool.lock);

  /* Admitted items of this group that no worker has taken yet. */
  for (GList *l = pool.queue.head; l != NULL; l = next)
    {
      SyncifyPoolItem *item = l->data;

      next = l->next;
      if (item->group != group)
        continue;
      g_queue_unlink (&pool.queue, l);
      item->where = WHERE_NONE;
      group->admitted--;
      items = g_list_prepend (items, item);
    }

  while (group->pending.length > 0)
    {
      GList *link = g_queue_pop_head_link (&group->pending);
      SyncifyPoolItem *item = link->data;

      item->where = WHERE_NONE;
      items = g_list_prepend (items, item);
    }

  /* Slots freed: workers taking back a lent one may go on. */
  if (group->n_returning > 0)
    g_cond_broadcast (&pool.return_cond);

  syncify_mutex_unlock (&pool.lock);

  return g_list_reverse (items);
}

void
syncify_pool_push (SyncifyPoolItem *item)
{
  SyncifyPoolGroup *group = item->group;
  GList *stranded = NULL;
  GError *error = NULL;

  item->link.data = item;
  item->link.prev = item->link.next = NULL;

  syncify_mutex_lock (&pool.lock);
  if (group->max == 0 || group->admitted < group->max)
    {
      item->where = WHERE_QUEUED;
      group->admitted++;
      if (pool.queue.length == 0)
        pool.last_progress = g_get_monotonic_time ();
      g_queue_push_tail_link (&pool.queue, &item->link);
      pool_wake ();
      stranded = pool_take_stranded (&error);
    }
  else
    {
      item->where = WHERE_PENDING;
      g_queue_push_tail_link (&group->pending, &item->link);
    }
  syncify_mutex_unlock (&pool.lock);

  if (stranded != NULL)
    pool_fail_items (stranded, error);
}

gboolean
syncify_pool_remove (SyncifyPoolItem *item)
{
  gboolean removed = FALSE;

  syncify_mutex_lock (&pool.lock);
  if (item->where == WHERE_QUEUED)
    {
      g_queue_unlink (&pool.queue, &item->link);
      item->group->admitted--;
      group_admit (item->group);
      pool_wake ();
      removed = TRUE;
    }
  else if (item->where == WHERE_PENDING)
    {
      g_queue_unlink (&item->group->pending, &item->link);
      removed = TRUE;
    }
  if (removed)
    item->where = WHERE_NONE;
  syncify_mutex_unlock (&pool.lock);

  return removed;
}

void
syncify_pool_block_begin_item (SyncifyPoolItem *item)
{
  if (block_depth++ > 0)
    return;

  syncify_mutex_lock (&pool.lock);
  item->blocking = TRUE;
  syncify_mutex_unlock (&pool.lock);
}

/* Must hold pool.lock. */
static void
lend_locked (SyncifyPoolItem *item)
{
  PoolWorker *worker = item->worker;

  if (!item->blocking || item->lent || item->where != WHERE_RUNNING)
    return;

  item->lent = TRUE;
  worker->blocked = TRUE;
  pool.n_running--;
  item->group->admitted--;
  group_admit (item->group);
  pool_wake ();
}

void
syncify_pool_lend (SyncifyPoolItem *item)
{
  syncify_mutex_lock (&pool.lock);
  lend_locked (item);
  syncify_mutex_unlock (&pool.lock);
}

void
syncify_pool_lend_thread (SyncifyThread *thread)
{
  SyncifyPoolItem *item = g_atomic_pointer_get (&thread->pool_item);

  if (item != NULL)
    syncify_pool_lend (item);
}

void
syncify_pool_block_end_item (SyncifyPoolItem *item)
{
  SyncifyPoolGroup *group;

  if (--block_depth > 0)
    return;

  group = item->group;

  syncify_mutex_lock (&pool.lock);
  item->blocking = FALSE;
  if (item->lent)
    {
      /* Take a slot back, ahead of the pending items: the bound holds. */
      group->n_returning++;
      while (group->max != 0 && group->admitted >= group->max)
        syncify_cond_wait (&pool.return_cond, &pool.lock);
      group->n_returning--;
      group->admitted++;
      item->lent = FALSE;
      current_worker->blocked = FALSE;
      pool.n_running++;
    }
  syncify_mutex_unlock (&pool.lock);
}

void
syncify_pool_item_done (SyncifyPoolItem *item)
{
  SyncifyPoolGroup *group = item->group;

  g_assert (item == syncify_pool_current_item);
  g_assert (block_depth == 0);

  syncify_mutex_lock (&pool.lock);
  g_assert (!item->lent);
  item->where = WHERE_NONE;
  group->admitted--;
  group_admit (group);
  pool_wake ();
  syncify_mutex_unlock (&pool.lock);

  syncify_pool_current_item = NULL;
}

static gint64
worker_cpu_time_us (PoolWorker *worker)
{
#ifdef _POSIX_THREAD_CPUTIME
  struct timespec ts;

  if (worker->have_clock && clock_gettime (worker->cpu_clock, &ts) == 0)
    return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
#endif
  return -1;
}

static gpointer
worker_main (gpointer data)
{
  PoolWorker worker = { { 0, }, };
  gint64 idle_since = g_get_monotonic_time ();

  worker.link.data = &worker;
#ifdef _POSIX_THREAD_CPUTIME
  worker.have_clock = pthread_getcpuclockid (pthread_self (), &worker.cpu_clock) == 0;
#endif
  current_worker = &worker;
  (void) syncify_thread_self ();

  syncify_mutex_lock (&pool.lock);
  g_queue_push_tail_link (&pool.workers, &worker.link);
  if (pool.n_wakeups > 0)
    pool.n_wakeups--;   /* the wake-up that spawned us */

  for (;;)
    {
      SyncifyPoolItem *item = NULL;

      if (pool.queue.length > 0 && pool.n_running < pool_limit ())
        {
          GList *link = g_queue_pop_head_link (&pool.queue);

          item = link->data;
          item->where = WHERE_RUNNING;
          pool.last_progress = g_get_monotonic_time ();
          item->worker = &worker;
          item->blocking = FALSE;
          item->lent = FALSE;
          pool.n_running++;
          worker.running = TRUE;
        }

      if (item != NULL)
        {
          /* More queued work than awake threads: get help before starting. */
          pool_wake ();
          syncify_mutex_unlock (&pool.lock);

          syncify_pool_current_item = item;
          item->run (item);   /* calls syncify_pool_item_done(); may free @item */
          syncify_pool_current_item = NULL;
          g_assert (block_depth == 0);

          syncify_mutex_lock (&pool.lock);
          worker.running = FALSE;
          pool.n_running--;
          idle_since = g_get_monotonic_time ();
          continue;
        }

      /* Nothing this thread may take: sleep until there is. */
      pool.n_idle++;
      if (!syncify_cond_wait_until (&pool.work_cond, &pool.lock, idle_since + IDLE_EXIT_US) &&
          pool.queue.length == 0 &&
          pool.n_wakeups == 0 &&
          pool.n_threads > pool_limit ())
        {
          pool.n_idle--;
          break;
        }
      pool.n_idle--;
      if (pool.n_wakeups > 0)
        pool.n_wakeups--;   /* ours, or a spurious wake-up: either way we are awake */
      if (g_get_monotonic_time () >= idle_since + IDLE_EXIT_US)
        idle_since = g_get_monotonic_time ();
    }

  g_queue_unlink (&pool.workers, &worker.link);
  pool.n_threads--;
  syncify_mutex_unlock (&pool.lock);

  current_worker = NULL;
  return NULL;
}

static gpointer
monitor_main (gpointer data)
{
  syncify_mutex_lock (&pool.lock);

  for (;;)
    {
      guint off_cpu = 0;
      gint64 interval_us;
      gint64 start = g_get_monotonic_time ();

      /* Nothing to watch: no queued work. */
      while (pool.queue.length == 0)
        {
          pool.extra = 0;
          syncify_cond_wait (&pool.monitor_cond, &pool.lock);
          start = g_get_monotonic_time ();
        }

      /* Free slots: the threads that take them are on their way (or
       * could not be started: try again, or give up on the items after
       * the bound). Look again in a while (keeping what was granted). */
      if (pool.n_running < pool_limit ())
        {
          if (pool.spawn_error != NULL)
            {
              GError *error = NULL;
              GList *stranded;

              pool_wake ();
              stranded = pool_take_stranded (&error);
              if (stranded != NULL)
                {
                  syncify_mutex_unlock (&pool.lock);
                  pool_fail_items (stranded, error);
                  syncify_mutex_lock (&pool.lock);
                  continue;
                }
            }
          syncify_cond_wait_until (&pool.monitor_cond, &pool.lock,
                                   start + MONITOR_INTERVAL_US);
          continue;
        }

      for (GList *l = pool.workers.head; l != NULL; l = l->next)
        {
          PoolWorker *w = l->data;
          w->last_cpu_us = worker_cpu_time_us (w);
        }

      syncify_cond_wait_until (&pool.monitor_cond, &pool.lock, start + MONITOR_INTERVAL_US);
      interval_us = MAX (1, g_get_monotonic_time () - start);

      for (GList *l = pool.workers.head; l != NULL; l = l->next)
        {
          PoolWorker *w = l->data;
          gint64 now_cpu;

          if (!w->running || w->blocked || w->last_cpu_us < 0)
            continue;
          now_cpu = worker_cpu_time_us (w);
          if (now_cpu >= 0 && (now_cpu - w->last_cpu_us) * 4 < interval_us)
            off_cpu++;
        }

      pool.extra = MIN (off_cpu, MAX_EXTRA);
      pool_wake ();
    }

  g_assert_not_reached ();
  return NULL;
}
