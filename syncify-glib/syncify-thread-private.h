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
typedef struct _SyncifyOwnerRecord SyncifyOwnerRecord;

typedef enum {
  SYNCIFY_WAIT_NONE,
  SYNCIFY_WAIT_PUSH,     /* blocked until an operation pushed to a context completes */
  SYNCIFY_WAIT_PRIVATE,  /* iterating a private context until an operation completes */
} SyncifyWaitKind;

/* What a thread is blocked on, for the wait-for graph (syncify-graph.c).
 * Saved on the stack by nested waits and restored when they end. Written
 * only by the thread itself, under its state_lock; others read it under
 * that lock. */
typedef struct {
  /* Small: every blocking call copies it three times. */
  guint               kind : 2;          /* SyncifyWaitKind */
  guint               background : 1;    /* PUSH: the context has a thread of its own */
  guint               owns_default : 1;  /* the thread owned the global default main
                                          * context when it blocked (for a default
                                          * context whose inbox has not seen its
                                          * owner yet) */
  guint               owner_blocked : 1; /* PUSH: the target's owner was itself
                                          * blocked in the library when this wait
                                          * began */
  guint               listed : 1;        /* in the registry's list of threads
                                          * blocked while holding the default
                                          * context */
  gint                done_value;
  const gint         *done_word;  /* (nullable) PUSH: once *done_word ==
                                   * done_value, the wait is answered and
                                   * waits on nobody */
  GMainContext       *target;   /* PUSH: the context's GMainContext; PRIVATE: the private one */
  SyncifyOwnerRecord *record;   /* PUSH: the owner record of the context waited on
                                 * (nullable); kept alive by the waiter until
                                 * its wait ends (it holds the inbox) */
} SyncifyWaitState;

/* Who owns a context's main context: the thread that last iterated it, as its
 * inbox source sees on every iteration. It stays the owner between two
 * iterations, until another thread iterates the context or it exits. One per
 * SyncifyContext, in its inbox. */
struct _SyncifyOwnerRecord {
  SyncifyThread   *owner;    /* (atomic) (nullable) */
  GList            link;     /* in owner->owned; protected by the registry lock */
  SyncifyThread   *creator;  /* the thread that wrapped the context; valid while
                              * its serial is creator_serial (registry lock) */
  guint64          creator_serial;
};

struct _SyncifyThread
{
  /* The word a blocked thread sleeps on: 0 while waiting, 1 once signalled.
   * (atomic) */
  gint              wake_word;
#ifndef HAVE_FUTEX
  GMutex            wake_lock;
  GCond             wake_cond;
#endif

  /* 1 while the thread is blocked in the library (any wait), else 0.
   * Written by the thread itself, in its state_lock, after its wait state;
   * read by threads about to block on a context it owns, without any lock:
   * a store and a load of these words on both sides (sequentially
   * consistent), so of two threads blocking on each other at once at least
   * one sees the other blocked and searches. (atomic) */
  gint              blocked;
  /* Protects @wait, @wait_serial and @owned. Taken after the registry lock,
   * never the other way round; under it the thread may take an inbox's
   * lock and the pool's. */
  GMutex            state_lock;
  SyncifyWaitState  wait;
  guint64           wait_serial;     /* changes with every change of @wait */
  GQueue            owned;           /* SyncifyOwnerRecord of the contexts it owns;
                                      * changed under the registry lock too */

  /* Protected by the registry lock. */
  GList             link;            /* in the free list, once its thread exited */
  GList             blocked_link;    /* in the list of threads blocked while
                                      * holding the default context */
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

/* The registry lock protects the owner records, the owned lists (with their
 * thread's state lock) and the graph's indexes. It is held for short,
 * non-blocking sections only, and not at all by a thread that blocks on a
 * context whose owner is not blocked (the common case). Under it the library
 * may take, in this order, a thread's state lock (two at once only by the
 * holder of the registry lock), an inbox's lock and the pool's lock; never
 * the other way round. A GMainContext's own lock (g_main_context_is_owner(),
 * g_main_context_acquire()) may be taken under any of them: GLib runs the
 * inbox's functions with it released. */
void           syncify_registry_lock        (void);
void           syncify_registry_unlock      (void);
/* How many times syncify_registry_lock() was called (for the unit tests). */
guint64        syncify_registry_lock_taken  (void);

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
/* Whether the global default main context has a record naming its owner;
 * any thread, no lock. */
gboolean       syncify_owner_record_default_owned (void);
G_END_DECLS
