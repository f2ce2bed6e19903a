/* syncify-graph-private.h: the wait-for graph that turns would-be deadlocks
 * into SYNCIFY_ERROR_WOULD_DEADLOCK
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-thread-private.h"

G_BEGIN_DECLS

/* A context as the graph sees it, embedded in the context: what it is
 * called, what it wraps, and who owns it. Immutable once added, but for
 * @link, which the registry lock protects. */
struct _SyncifyNode
{
  GList               link;          /* in the registry's nodes */
  const char         *name;          /* (nullable): not owned */
  gconstpointer       id;            /* what messages print for an unnamed node */
  GMainContext       *main_context;  /* (nullable): not owned */
  gboolean            background;    /* run by a thread of its own */
  SyncifyOwnerRecord *record;        /* (nullable): its owner record, not owned */
};

/* The nodes the graph may need to name in a message. A node is added once
 * its fields are set, and removed before the context goes: any wait that
 * still names it forgets it then. */
void     syncify_graph_add_node    (SyncifyNode   *node);
void     syncify_graph_remove_node (SyncifyNode   *node);

/* How @node is named in messages ("context "name"", "the default
 * context"), translated. */
char    *syncify_node_describe     (const SyncifyNode *node);

/* A worker runs a job whose result goes to @private_context, the private
 * context of a thread iterating it: the graph follows that thread's wait to
 * this worker. */
void     syncify_graph_deliverer_add    (SyncifyThread *worker,
                                         GMainContext  *private_context);
void     syncify_graph_deliverer_remove (SyncifyThread *worker,
                                         GMainContext  *private_context);

/* Deadlock check: registers @thread as blocked in the given way (@node for
 * a PUSH wait, else NULL), unless that closes a cycle in the wait-for
 * graph, in which case it sets @error (with the cycle spelled out) and
 * registers nothing. @saved receives the previous state, to hand back to
 * syncify_wait_end(). When the owner of what @thread waits on is known and
 * not blocked, it takes no registry lock; otherwise it searches under it,
 * for the length of the chain of blocked threads it follows, whatever the
 * number of others.
 * @thread is the calling thread (or, in unit tests, a state no thread
 * uses). A PUSH wait's caller keeps @node's owner record alive until its
 * wait ends. */
gboolean syncify_wait_begin (SyncifyThread    *thread,
                             SyncifyWaitKind   kind,
                             GMainContext     *target,
                             SyncifyNode      *node,
                             SyncifyWaitState *saved,
                             GError          **error);
/* The same, and:
 * - @done_word (nullable): for a PUSH wait, once *@done_word equals
 *   @done_value the wait is answered and waits on nobody any more (the
 *   word lives as long as the wait);
 * - once registered, calls @owned_func on each SyncifyOwnerRecord @thread
 *   owns, under @thread's state lock (it may take an inbox's lock and the
 *   pool's, nothing else of the library). */
gboolean syncify_wait_begin_full (SyncifyThread    *thread,
                                  SyncifyWaitKind   kind,
                                  GMainContext     *target,
                                  SyncifyNode      *node,
                                  const gint       *done_word,
                                  gint              done_value,
                                  GFunc             owned_func,
                                  gpointer          owned_data,
                                  SyncifyWaitState *saved,
                                  GError          **error);
void     syncify_wait_end   (SyncifyThread    *thread,
                             SyncifyWaitState *saved);
/* For the unit tests: @hook (nullable) runs, on the searching thread and
 * under the registry lock, before a search reads each thread's state. It
 * must not take the registry lock (nor end the wait of a thread that holds
 * an unrecorded default context, which does). */
void     syncify_graph_set_search_hook (void     (*hook) (SyncifyThread *thread,
                                                          gpointer       data),
                                        gpointer   data);

/* For the unit tests: how many threads are listed as blocked while they
 * hold an unrecorded default context. */
guint    syncify_graph_n_listed (void);

/* Whether the owner of what the calling @thread's PUSH wait is on is
 * blocked in the library, as seen when the wait began or now. */
gboolean syncify_wait_owner_blocked (SyncifyThread *thread);

G_END_DECLS
