/* syncify-cancel-private.h: the cancellables shutdown must fire, and the
 * fan-in cancellable that follows several others
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-lock-private.h"

#include <gio/gio.h>

G_BEGIN_DECLS

/* Work that shutdown must cancel: the cancellable handed to an operation or
 * a worker function. Embedded in the job or call; in a SyncifyCancelSet
 * while the work runs. */
typedef struct {
  GList         link;
  GCancellable *cancellable;  /* not owned */
} SyncifyCancelEntry;

/* One per context: what its shutdown cancels. Reference counted: work
 * running on the context's owner holds it, and may finish after the
 * context is finalized (its last reference dropped meanwhile). */
typedef struct {
  gint          ref_count;    /* (atomic) */
  GMutex        lock;
  GQueue        entries;      /* SyncifyCancelEntry; protected by @lock */
  gboolean      closed;       /* protected by @lock */
  GCancellable *shutdown;     /* (owned): shared by the work given no
                               * cancellable of its own; fired on close */
} SyncifyCancelSet;

SyncifyCancelSet *syncify_cancel_set_new   (void);
SyncifyCancelSet *syncify_cancel_set_ref   (SyncifyCancelSet   *set);
void          syncify_cancel_set_unref   (SyncifyCancelSet   *set);
/* Adds @entry for @cancellable (not @set's shutdown one), which is
 * cancelled at once if @set is already closed. Called in any thread. */
void          syncify_cancel_set_track   (SyncifyCancelSet   *set,
                                          SyncifyCancelEntry *entry,
                                          GCancellable       *cancellable);
void          syncify_cancel_set_untrack (SyncifyCancelSet   *set,
                                          SyncifyCancelEntry *entry);
/* Closes @set and fires its shutdown cancellable and every tracked one,
 * outside the lock. Called once. */
void          syncify_cancel_set_close   (SyncifyCancelSet   *set);

/* A cancellable that fires when any of up to two others fire. */
typedef struct {
  GCancellable *combined;      /* (owned) (nullable) */
  GCancellable *sources[2];    /* (nullable): not owned, outlive the chain */
  gulong        handlers[2];
} SyncifyChain;

/* Returns the cancellable to hand on: one of @a or @b when only one is set
 * and @always_new is FALSE, else a new one that follows both. */
GCancellable *syncify_chain_init  (SyncifyChain *chain,
                                   GCancellable *a,
                                   GCancellable *b,
                                   gboolean      always_new);
void          syncify_chain_clear (SyncifyChain *chain);

/* The cancellable handed to work run for @set's context by a caller whose
 * own are @a and @b (either may be NULL): it fires when either does, or
 * when the context is shut down. With neither, @set's shared shutdown
 * cancellable, at no cost; otherwise a new one in @chain, which must be
 * tracked (syncify_cancel_set_track()) while the work runs, and cleared
 * after. */
GCancellable *syncify_work_cancellable (SyncifyCancelSet *set,
                                        SyncifyChain     *chain,
                                        GCancellable     *a,
                                        GCancellable     *b);

G_END_DECLS
