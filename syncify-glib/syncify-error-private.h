/* syncify-error-private.h: one builder per runtime error of the library,
 * and the helpers that free results and user data
 *
 * Every message the library can report is made here, once: a condition has
 * one message, whichever path reports it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-glib.h"

G_BEGIN_DECLS

/* SYNCIFY_ERROR_CLOSED, for work that was accepted and then ended by the
 * shutdown of its context before it ran. */
void     syncify_error_shut_down        (GError     **error);
/* SYNCIFY_ERROR_CLOSED, for work refused by a context (described by @what,
 * see syncify_node_describe()) that is shut down. */
void     syncify_error_closed           (GError     **error,
                                         const char  *what);
/* G_IO_ERROR_CANCELLED, for work whose cancellable fired before it ran. */
void     syncify_error_cancelled        (GError     **error);
/* G_IO_ERROR_FAILED for a binding's function that failed, or returned no
 * value, without saying why: what a binding reports for an exception it
 * could not turn into an error, or a function it refused to run on the
 * calling thread. */
void     syncify_error_function_failed  (GError     **error);
void     syncify_error_no_value         (GError     **error);
/* G_IO_ERROR_FAILED for a binding's start function that returned without
 * starting its operation. */
void     syncify_error_not_started      (GError     **error);
/* A G_IO_ERROR for a main context that cannot be made: @errsv is the errno
 * of the failed attempt to get a file descriptor. */
void     syncify_error_no_main_context  (GError     **error,
                                         int          errsv);
/* SYNCIFY_ERROR_WOULD_DEADLOCK; @cycle spells out the cycle. */
void     syncify_error_would_deadlock   (GError     **error,
                                         const char  *cycle);

/* SYNCIFY_ERROR_NOT_IN_WORKER, one for each reason no other thread can run
 * the operation: no context at all, a context the calling thread runs
 * itself, or a context nobody runs. */
void     syncify_error_not_in_worker_no_context (GError     **error,
                                                 const char  *thread_name);
void     syncify_error_not_in_worker_own        (GError     **error,
                                                 const char  *thread_name,
                                                 const char  *what);
void     syncify_error_not_in_worker_unowned    (GError     **error,
                                                 const char  *thread_name,
                                                 const char  *what);

/* A callback returns a result or sets an error, not both: returns @result,
 * or NULL (with a critical naming @func_type) when @error is set too; such
 * a result is leaked, as no destroy notify is known here. */
gpointer syncify_checked_result         (gpointer      result,
                                         const GError *error,
                                         const char   *func_type);

/* Frees user data once: calls *@notify (if any) on *@data, as GLib does
 * even for NULL data, and clears both, so a second call does nothing. */
static inline void
syncify_clear_user_data (gpointer       *data,
                         GDestroyNotify *notify)
{
  GDestroyNotify destroy = (GDestroyNotify) g_steal_pointer (notify);
  gpointer value = g_steal_pointer (data);

  if (destroy != NULL)
    destroy (value);
}

/* Frees a result nobody claimed: calls @destroy (if any) on *@result
 * unless it is NULL (a valid success), and clears it. */
static inline void
syncify_clear_result (gpointer       *result,
                      GDestroyNotify  destroy)
{
  gpointer value = g_steal_pointer (result);

  if (value != NULL && destroy != NULL)
    destroy (value);
}

G_END_DECLS
