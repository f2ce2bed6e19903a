/* syncify-call-private.h: calls, the work pushed to the owner of a context
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-context-private.h"

G_BEGIN_DECLS

/* Push the operation, or the function, to @target's owner and block until
 * it is done; @cancellable is the one it is handed (see
 * syncify_work_cancellable()). Fail with WOULD_DEADLOCK, or CLOSED, without
 * running anything. */
gpointer syncify_call_push_syncify (SyncifyContext     *target,
                                    SyncifyStartFunc    start,
                                    SyncifyFinishFunc   finish,
                                    gpointer            user_data,
                                    GCancellable       *cancellable,
                                    GError            **error);
gpointer syncify_call_push_invoke  (SyncifyContext     *target,
                                    SyncifyThreadFunc   func,
                                    gpointer            user_data,
                                    GCancellable       *cancellable,
                                    GError            **error);

/* Answers a call that shutdown took out of the inbox before it started:
 * it ends with SYNCIFY_ERROR_CLOSED. */
void     syncify_call_end_shut_down (SyncifyInboxItem  *item);

/* call_async with the task's source object and tag given: the task is the
 * caller's own result (see syncify_await_full_async()). */
void     syncify_call_async_internal (SyncifyContext      *self,
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

G_END_DECLS
