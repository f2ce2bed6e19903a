/* syncify-asyncify-private.h: asyncify jobs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-context-private.h"

G_BEGIN_DECLS

/* Ends a job that shutdown took out of the pool before it started: it
 * completes with SYNCIFY_ERROR_CLOSED in its caller's context. */
void syncify_job_end_shut_down (SyncifyPoolItem *item);

/* asyncify for the language bindings' entry points: while the context's
 * max-workers is 0, their jobs run under a bound of their own (the usable
 * processors, at least 2; see "Python and the GIL" on the asyncify page),
 * which leaves the context's other jobs alone. */
void syncify_asyncify_for_binding (SyncifyContext      *self,
                                   SyncifyFlags         flags,
                                   SyncifyThreadFunc    func,
                                   gpointer             user_data,
                                   GDestroyNotify       user_data_destroy,
                                   GDestroyNotify       result_destroy,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             callback_data);

G_END_DECLS
