/* syncify-private.h: internals shared by the library's sources
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "config.h"

#include <glib/gi18n-lib.h>

#include "syncify-glib.h"

G_BEGIN_DECLS

/* ThreadSanitizer cannot see inside the uninstrumented system GLib, so the
 * happens-before edges of GMutex and GCond are invisible to it. Every lock
 * the library takes goes through these wrappers, which declare the edge. */
#if defined(__SANITIZE_THREAD__) || HAVE_SANITIZE_THREAD
void __tsan_acquire (void *addr);
void __tsan_release (void *addr);
# define SYNCIFY_TSAN_ACQUIRE(p) __tsan_acquire ((void *) (p))
# define SYNCIFY_TSAN_RELEASE(p) __tsan_release ((void *) (p))
#else
# define SYNCIFY_TSAN_ACQUIRE(p) G_STMT_START { (void) (p); } G_STMT_END
# define SYNCIFY_TSAN_RELEASE(p) G_STMT_START { (void) (p); } G_STMT_END
#endif

static inline void
syncify_mutex_lock (GMutex *mutex)
{
  g_mutex_lock (mutex);
  SYNCIFY_TSAN_ACQUIRE (mutex);
}

static inline void
syncify_mutex_unlock (GMutex *mutex)
{
  SYNCIFY_TSAN_RELEASE (mutex);
  g_mutex_unlock (mutex);
}

static inline void
syncify_cond_wait (GCond  *cond,
                   GMutex *mutex)
{
  SYNCIFY_TSAN_RELEASE (mutex);
  g_cond_wait (cond, mutex);
  SYNCIFY_TSAN_ACQUIRE (mutex);
}

static inline gboolean
syncify_cond_wait_until (GCond  *cond,
                         GMutex *mutex,
                         gint64  end_time)
{
  gboolean ret;

  SYNCIFY_TSAN_RELEASE (mutex);
  ret = g_cond_wait_until (cond, mutex, end_time);
  SYNCIFY_TSAN_ACQUIRE (mutex);
  return ret;
}

void syncify_i18n_init (void);

/* ------------------------------------------------------------------------ *
 * Per-thread state (syncify-wait.c)
 * ------------------------------------------------------------------------ */

typedef struct _SyncifyJob    SyncifyJob;
typedef struct _SyncifyThread SyncifyThread;

typedef enum {
  SYNCIFY_WAIT_NONE,
  SYNCIFY_WAIT_PUSH,     /* blocked until an operation pushed to a context completes */
  SYNCIFY_WAIT_PRIVATE,  /* iterating a private context until an operation completes */
} SyncifyWaitKind;

/* What a thread is blocked on, for the wait-for graph. Saved on the stack by
 * nested waits and restored when they end. */
typedef struct {
  SyncifyWaitKind  kind;
  GMainContext    *target;   /* PUSH: the context's GMainContext; PRIVATE: the private one */
  SyncifyContext  *context;  /* PUSH: the context waited on; not owned */
  gboolean         owns_default; /* the thread owned the global default main
                                  * context when it blocked (for a default
                                  * context whose inbox has not seen its owner yet) */
  gboolean         owner_blocked; /* PUSH: the target's owner was itself blocked
                                   * in the library when this wait began */
} SyncifyWaitState;

/* Who owns a context's main context: the thread that last iterated it, as its
 * inbox source sees on every iteration. It stays the owner between two
 * iterations, until another thread iterates the context or it exits. One per
 * SyncifyContext, in its inbox. */
typedef struct {
  SyncifyThread   *owner;    /* (atomic) (nullable) */
  GList            link;     /* in owner->owned; protected by the registry lock */
  SyncifyThread   *creator;  /* the thread that wrapped the context; valid while
                              * its serial is creator_serial (registry lock) */
  guint64          creator_serial;
  GMainContext    *main_context; /* not owned */
} SyncifyOwnerRecord;

struct _SyncifyThread
{
  /* The word a blocked thread sleeps on: 0 while waiting, 1 once signalled.
   * (atomic) */
  gint              wake_word;
#ifndef HAVE_FUTEX
  GMutex            wake_lock;
  GCond             wake_cond;
#endif

  /* Protected by the registry lock. */
  GList             link;            /* in the list of all threads */
  GList             blocked_link;    /* in the list of blocked threads */
  SyncifyWaitState  wait;
  GQueue            owned;           /* SyncifyOwnerRecord of the contexts it owns */
  guint64           serial;          /* this incarnation of the state */
  GList             deliver_link;    /* in the deliverer index, while it runs a
                                      * job that delivers to a private context */
  guint             search_mark;     /* the last cycle search that visited it */
  /* Set by the thread itself before it first registers, then changed only
   * under the registry lock (syncify_thread_set_name); always valid UTF-8. */
  char              name[64];

  /* The asyncify job this thread is running, if it is a worker. Written by
   * the thread itself; read by others under the registry lock. (atomic) */
  SyncifyJob       *job;

  /* The per-thread private context of the private path (owned) (nullable);
   * only touched by the thread itself. */
  GMainContext     *private_context;

  /* The background context this thread runs, if any (a BackgroundData);
   * only touched by the thread itself. */
  gpointer          background;
};

SyncifyThread *syncify_thread_self          (void);
/* The processors this process may use: its affinity mask and its cgroup's
 * CPU quota allowing. Read once. */
guint          syncify_usable_processors    (void);
void           syncify_thread_set_name      (SyncifyThread *thread,
                                             const char    *name);
const char    *syncify_thread_get_name      (SyncifyThread *thread);

/* The waiter: a one-shot event a thread blocks on, signalled by another. */
void           syncify_thread_wait          (SyncifyThread *thread);
void           syncify_thread_signal        (SyncifyThread *thread);

/* Contexts the wait-for check may need to name. */
void           syncify_registry_add_context    (SyncifyContext *context);
void           syncify_registry_remove_context (SyncifyContext *context);

/* Ownership records (see SyncifyOwnerRecord). init() and fini() bracket the
 * context's life; set() is called by @thread itself when it iterates the
 * context (or runs its work inline); clear() forgets the owner. A thread
 * that exits forgets every context it owned. */
void           syncify_owner_record_init  (SyncifyOwnerRecord *record,
                                           GMainContext       *main_context);
void           syncify_owner_record_fini  (SyncifyOwnerRecord *record);
void           syncify_owner_record_set   (SyncifyOwnerRecord *record,
                                           SyncifyThread      *thread);
void           syncify_owner_record_clear (SyncifyOwnerRecord *record);
/* Calls @func on each record @thread owns, under the registry lock (which
 * @func must not take). */
void           syncify_thread_foreach_owned (SyncifyThread *thread,
                                             GFunc          func,
                                             gpointer       data);

/* A worker runs a job whose result goes to @private_context, the private
 * context of a thread iterating it: the wait-for graph follows that thread's
 * wait to this worker. */
void           syncify_registry_deliverer_add    (SyncifyThread *worker,
                                                  GMainContext  *private_context);
void           syncify_registry_deliverer_remove (SyncifyThread *worker,
                                                  GMainContext  *private_context);

/* Deadlock check: registers @thread as blocked in the given way, unless that
 * closes a cycle in the wait-for graph, in which case it sets @error (with the
 * cycle spelled out) and registers nothing. @saved receives the previous
 * state, to hand back to syncify_wait_end(). Costs the length of the chain
 * of blocked threads it follows, whatever the number of others. */
gboolean       syncify_wait_begin (SyncifyThread    *thread,
                                   SyncifyWaitKind   kind,
                                   GMainContext     *target,
                                   SyncifyContext   *context,
                                   SyncifyWaitState *saved,
                                   GError          **error);
void           syncify_wait_end   (SyncifyThread    *thread,
                                   SyncifyWaitState *saved);

/* ------------------------------------------------------------------------ *
 * The worker pool (syncify-pool.c)
 * ------------------------------------------------------------------------ */

typedef struct _SyncifyPoolItem  SyncifyPoolItem;
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
void     syncify_pool_block_begin    (void);
void     syncify_pool_block_end      (void);
/* Called in any thread: lends the slots of @item, if its worker is waiting
 * inside the library and has not lent them yet. */
void     syncify_pool_lend           (SyncifyPoolItem  *item);
void     syncify_pool_lend_current   (void);
/* Lends the slot of the job @thread is running, if any (registry lock held
 * is fine: the pool lock comes after it). */
void     syncify_thread_lend_slot    (SyncifyThread    *thread);


/* ------------------------------------------------------------------------ *
 * Context internals used by the other sources
 * ------------------------------------------------------------------------ */

GMainContext   *syncify_context_peek_main_context (SyncifyContext *self);
struct _SyncifyTeardownList *syncify_context_peek_teardown (SyncifyContext *self);
/* The thread that owns the context's main context (SyncifyOwnerRecord), or
 * NULL if no live thread has iterated it. */
SyncifyThread  *syncify_context_peek_owner   (SyncifyContext *self);
SyncifyOwnerRecord *syncify_context_peek_owner_record (SyncifyContext *self);
gboolean        syncify_context_peek_background   (SyncifyContext *self);
char           *syncify_context_describe     (SyncifyContext *self);
void            syncify_call_async_internal  (SyncifyContext      *self,
                                              GObject             *source_object,
                                              gpointer             source_tag,
                                              SyncifyStartFunc     start,
                                              SyncifyFinishFunc    finish,
                                              gpointer             user_data,
                                              GDestroyNotify       user_data_destroy,
                                              GDestroyNotify       result_destroy,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             callback_data);

/* Runs @func (@data, freed with @notify) from an idle source of @priority
 * in @context; called in any thread. @context is held across the hand-off:
 * once attached, the source may run on @context's thread, where @data may
 * drop the last reference on @context (through a GTask, say), before
 * g_source_attach() and g_source_unref() here are done with it. */
static inline void
syncify_post (GMainContext   *context,
              gint            priority,
              const char     *name,
              GSourceFunc     func,
              gpointer        data,
              GDestroyNotify  notify)
{
  GSource *source = g_idle_source_new ();

  g_main_context_ref (context);
  g_source_set_priority (source, priority);
  g_source_set_static_name (source, name);
  g_source_set_callback (source, func, data, notify);
  g_source_attach (source, context);
  g_source_unref (source);
  g_main_context_unref (context);
}

G_END_DECLS
