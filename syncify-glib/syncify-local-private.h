/* syncify-local-private.h: where a blocking call runs, and the private
 * main context path
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-context-private.h"

G_BEGIN_DECLS

typedef enum {
  SYNCIFY_ROUTE_PUSH,    /* another thread runs the context: hand the work over */
  SYNCIFY_ROUTE_LOCAL,   /* this thread owns it, or nobody runs it */
} SyncifyRoute;

/* Where work for @target (NULL: plain sync code, no context) runs, for the
 * calling @thread. When SYNCIFY_ROUTE_LOCAL is chosen because nobody runs
 * the context and @acquire is set, the context is acquired on return (and
 * *@acquired set) so that it stays so. */
SyncifyRoute syncify_route_choose (SyncifyContext *target,
                                   SyncifyThread  *thread,
                                   gboolean        acquire,
                                   gboolean       *acquired);

/* Runs the operation on @thread's private main context, iterating it until
 * the operation completes. */
gpointer     syncify_run_private  (SyncifyThread     *thread,
                                   SyncifyStartFunc   start,
                                   SyncifyFinishFunc  finish,
                                   gpointer           user_data,
                                   GCancellable      *cancellable,
                                   GError           **error);

/* SYNCIFY_ERROR_NOT_IN_WORKER for a call on @thread for @target (nullable)
 * that no other thread can run, with the reason spelled out. */
void         syncify_set_not_in_worker_error (GError         **error,
                                              SyncifyContext  *target,
                                              SyncifyThread   *thread);

/* A main context can be made (GLib aborts when it cannot make its wake-up
 * descriptor): a descriptor can be had, or @error is set. Another thread
 * may still take the last one in between. */
gboolean     syncify_check_fd_available (GError **error);

G_END_DECLS
