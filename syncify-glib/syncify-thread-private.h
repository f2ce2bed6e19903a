/* syncify-thread-private.h: per-thread state, the registry lock, owner
 * records and the waiter
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-glib.h"
#include "syncify-lock-private.h"

G_BEGIN_DECLS

typedef struct _SyncifyThread   SyncifyThread;
typedef struct _SyncifyNode     SyncifyNode;
typedef struct _SyncifyPoolItem SyncifyPoolItem;

typedef enum {
  SYNCIFY_WAIT_NONE,
  SYNCIFY_WAIT_PUSH,     /* blocked until an operation pushed to a context completes */
  SYNCIFY_WAIT_PRIVATE,  /* iterating a private context until an operation completes */
} SyncifyWaitKind;

/* What a thread is blocked on, for the wait-for graph (syncify-graph.c).
 * Saved on the stack by nested waits and restored when they end. */
typedef struct {
  SyncifyWaitKind  kind;
  GMainContext    *target;   /* PUSH: the context's GMainContext; PRIVATE: the private one */
  SyncifyNode     *node;     /* PUSH: the graph node of the context waited on;
                              * not owned, cleared when it goes */
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
  GList             link;            /* in the free list, once its thread exited */
  GList             blocked_link;    /* in the list of blocked threads */
  SyncifyWaitState  wait;
  GQueue            owned;           /* SyncifyOwnerRecord of the contexts it owns */
  guint64           serial;          /* this incarnation of the state; 0 once it exited */
  GList             deliver_link;    /* in the deliverer index, while it runs a
                                      * job that delivers to a private context */
  guint64           search_mark;     /* the last cycle search that visited it */
  /* Set by the thread itself before it first registers, then changed only
   * under the registry lock (syncify_thread_set_name); always valid UTF-8. */
  char              name[64];

  /* What this thread works for while it runs an asyncify job (plain fields,
   * so that the layers below the jobs can read them). Written by the thread
   * itself; @pool_item is read by others under the registry lock. */
  SyncifyPoolItem  *pool_item;       /* (atomic) (nullable): the pool item it runs */
  SyncifyContext   *work_context;    /* (nullable): the job's context; not owned */
  GCancellable     *work_cancellable;/* (nullable): the cancellable its function got */

  /* The per-thread private context of the private path (owned) (nullable);
   * only touched by the thread itself. */
  GMainContext     *private_context;

  /* The background context this thread runs, if any (a SyncifyBackground);
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

/* The waiter: a one-shot event a thread blocks on, signalled by another. A
 * waker publishes whatever the waiter waits for, then signals; the waiter
 * re-checks its condition after each wake-up. */
void           syncify_thread_wait          (SyncifyThread *thread);
void           syncify_thread_signal        (SyncifyThread *thread);

/* The registry lock protects every thread's wait state and owned list, the
 * owner records and the graph's indexes. It is held for short, non-blocking
 * sections only. Under it the library may take, in this order, a
 * GMainContext's own lock (g_main_context_is_owner()), an inbox's lock and
 * the pool's lock; never the other way round. */
void           syncify_registry_lock        (void);
void           syncify_registry_unlock      (void);

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
/* Registry lock held: whether the global default main context has a record
 * naming its owner. */
gboolean       syncify_owner_record_default_owned_locked (void);
G_END_DECLS
