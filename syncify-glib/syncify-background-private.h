/* syncify-background-private.h: the thread and loop of a background context,
 * and the deliveries that keep it running
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-graph-private.h"
#include "syncify-teardown-private.h"

#include <gio/gio.h>

G_BEGIN_DECLS

/* Shared by a background context and its thread, so that neither keeps the
 * other alive: the thread runs until @stop is set and nothing is in flight;
 * whoever drops the last reference frees it. */
typedef struct {
  gint          ref_count;     /* (atomic) */
  gint          stop;          /* (atomic) shutdown asked the loop to stop */
  gint          n_inflight;    /* (atomic) operations started on the loop, and
                                * deliveries addressed to it, not yet done: it
                                * runs until they are */
  GMainContext *main_context;  /* (owned) */
  GCancellable *shutdown_cancellable; /* (owned): the context's */
  char         *name;          /* (owned) */
  SyncifyTeardownList *teardown; /* (owned): the context's, run by the thread */
  GThread      *thread;        /* (owned) (nullable) (atomic): until stopped */
} SyncifyBackground;

/* Starts the thread of a background context on @main_context; NULL with
 * @error set if it cannot be started. */
SyncifyBackground *syncify_background_start (GMainContext        *main_context,
                                             GCancellable        *shutdown_cancellable,
                                             const char          *name,
                                             SyncifyTeardownList *teardown,
                                             GError             **error);
SyncifyBackground *syncify_background_ref   (SyncifyBackground   *bg);
void               syncify_background_unref (SyncifyBackground   *bg);
/* Called in any thread. The loop leaves once nothing started on it is in
 * flight; unlike g_main_loop_quit(), this is never lost if the loop has not
 * started yet. Returns the thread to join, to the first caller only. */
GThread           *syncify_background_stop  (SyncifyBackground   *bg);
/* Joins @thread (from syncify_background_stop()), registered as a wait on
 * @node, whose main context is @main_context; unless called on that thread
 * (which leaves its loop and exits on its own), or the thread is blocked on
 * the caller (joining would hang: it exits on its own too). */
void               syncify_background_join  (GThread             *thread,
                                             GMainContext        *main_context,
                                             SyncifyNode         *node);

/* Operations started on the loop: it runs until each one finished. Called
 * on the background thread. */
void               syncify_background_op_started  (SyncifyBackground *bg);
void               syncify_background_op_finished (SyncifyBackground *bg);

/* The calling thread's background context, if @delivery is its main
 * context: where the results of work it starts are delivered. */
SyncifyBackground *syncify_delivery_background (GMainContext *delivery);
/* A delivery addressed to a background context (the result of an asyncify
 * or a call_async started on its thread) keeps its loop running until it is
 * delivered: none is ever left in a context nobody iterates. hold() returns
 * the held background, or NULL when @delivery is not the calling thread's
 * background context; release() may be called in any thread, and does the
 * release on the background thread. */
SyncifyBackground *syncify_delivery_hold    (GMainContext      *delivery);
void               syncify_delivery_release (SyncifyBackground *bg);
/* Keeps a background delivery context running until @task has delivered
 * (its callback ran, "completed") or is freed. Uses the task's data. */
void               syncify_task_hold_delivery (GTask *task);

G_END_DECLS
