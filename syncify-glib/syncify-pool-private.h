/* syncify-pool-private.h: the worker pool behind asyncify, and slot lending
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-thread-private.h"

G_BEGIN_DECLS

typedef struct _SyncifyPoolGroup SyncifyPoolGroup;

typedef void (*SyncifyPoolRunFunc)  (SyncifyPoolItem *item);
/* Ends an item that can never run (no worker thread could be had): @error
 * is the item's to take. Called in any thread, without the pool lock. */
typedef void (*SyncifyPoolFailFunc) (SyncifyPoolItem *item,
                                     GError          *error);

/* How long queued items wait when no worker thread can be started and no
 * queued item starts meanwhile, before they fail with the thread error. */
#define SYNCIFY_POOL_SPAWN_BOUND_US (G_USEC_PER_SEC)

struct _SyncifyPoolItem
{
  GList               link;      /* in the group's or the pool's queue */
  SyncifyPoolGroup   *group;
  SyncifyPoolRunFunc  run;
  SyncifyPoolFailFunc fail;
  /* Protected by the pool lock: */
  guint               where;
  gpointer            worker;    /* the PoolWorker running it */
  gboolean            blocking;  /* its worker waits inside the library */
  gboolean            lent;      /* its slots were lent while it waits */
};

/* One per SyncifyContext: its max_workers bound. All fields are protected by
 * the pool lock. */
struct _SyncifyPoolGroup
{
  guint   max;         /* 0: no bound of its own */
  guint   admitted;    /* items holding a slot: running, or in the pool queue */
  guint   n_returning; /* workers whose lent slot ended, waiting to take one
                        * back (ahead of the pending items) */
  GQueue  pending;     /* items waiting for a slot, in order */
};

void     syncify_pool_group_init     (SyncifyPoolGroup *group);
void     syncify_pool_group_set_max  (SyncifyPoolGroup *group,
                                      guint             max);
guint    syncify_pool_group_get_max  (SyncifyPoolGroup *group);
/* Removes every item that has not started; returns them in order. */
GList   *syncify_pool_group_drain    (SyncifyPoolGroup *group);

void     syncify_pool_push           (SyncifyPoolItem  *item);
/* Called by an item's run function once it no longer needs its slot, and
 * before it hands itself on (after which its group, which lives in the
 * context, may be gone): gives the slot to the next item of the group. The
 * worker touches neither the item nor the group after run returns. */
void     syncify_pool_item_done      (SyncifyPoolItem  *item);
/* Removes @item if it has not started; TRUE if it was removed. */
gboolean syncify_pool_remove         (SyncifyPoolItem  *item);

/* A worker waiting inside the library keeps its slot (and so the
 * max_workers bound holds) unless its wait may depend on jobs that need a
 * slot: then its slot is lent (syncify_pool_lend), and when the wait ends it
 * takes one back before any pending job. No-ops on threads that are not
 * running a job. */
static inline void syncify_pool_block_begin (void);
static inline void syncify_pool_block_end   (void);
/* Called in any thread: lends the slots of @item, if its worker is waiting
 * inside the library and has not lent them yet. */
void     syncify_pool_lend           (SyncifyPoolItem  *item);
static inline void syncify_pool_lend_current (void);
/* Lends the slot of the job @thread is running, if any (registry lock held
 * is fine: the pool lock comes after it). */
void     syncify_pool_lend_thread    (SyncifyThread    *thread);

/* The item the calling thread runs, if it is a worker (and NULL on every
 * other thread: the inline functions below cost one load there). */
extern SYNCIFY_THREAD_LOCAL SyncifyPoolItem *syncify_pool_current_item;

void     syncify_pool_block_begin_item (SyncifyPoolItem *item);
void     syncify_pool_block_end_item   (SyncifyPoolItem *item);

static inline void
syncify_pool_block_begin (void)
{
  SyncifyPoolItem *item = syncify_pool_current_item;

  if (item != NULL)
    syncify_pool_block_begin_item (item);
}

static inline void
syncify_pool_block_end (void)
{
  SyncifyPoolItem *item = syncify_pool_current_item;

  if (item != NULL)
    syncify_pool_block_end_item (item);
}

static inline void
syncify_pool_lend_current (void)
{
  SyncifyPoolItem *item = syncify_pool_current_item;

  if (item != NULL)
    syncify_pool_lend (item);
}

G_END_DECLS
