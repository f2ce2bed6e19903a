/* syncify-error.c: the error domain and one builder per runtime error
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-error-private.h"
#include "syncify-i18n-private.h"

/**
 * syncify_error_quark:
 *
 * The error domain of syncify-glib's runtime errors, %SYNCIFY_ERROR.
 *
 * Returns: the quark
 *
 * Since: 1.0
 */
GQuark
syncify_error_quark (void)
{
  /* Not G_DEFINE_QUARK: its lazy initialisation of a plain static is a data
   * race when two threads raise the first error at once. */
  static gsize quark = 0;

  if (g_once_init_enter (&quark))
    g_once_init_leave (&quark, g_quark_from_static_string ("syncify-error-quark"));

  return (GQuark) quark;
}

void
syncify_error_shut_down (GError **error)
{
  g_set_error_literal (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED,
                       _("The context was shut down"));
}

void
syncify_error_closed (GError     **error,
                      const char  *what)
{
  g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED,
               _("Cannot run work on %s: it was shut down"), what);
}

void
syncify_error_cancelled (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                       _("Operation was cancelled"));
}

void
syncify_error_function_failed (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       _("The function failed without an error (an exception "
                         "in a language binding, or the binding refused to "
                         "run it on this thread)"));
}

void
syncify_error_no_value (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       _("The function returned no value and no error (an "
                         "exception in a language binding, or the binding "
                         "refused to run it on this thread)"));
}

void
syncify_error_not_started (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       _("The start function returned without starting "
                         "an operation (it failed, or the language binding "
                         "refused to run it on this thread)"));
}

void
syncify_error_no_main_context (GError **error,
                               int      errsv)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
               _("Cannot create a main context: %s"), g_strerror (errsv));
}

void
syncify_error_would_deadlock (GError     **error,
                              const char  *cycle)
{
  g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK,
               _("Waiting would deadlock: %s"), cycle);
}

void
syncify_error_not_in_worker_no_context (GError     **error,
                                        const char  *thread_name)
{
  g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER,
               _("syncify was called on thread \"%s\" with no context, outside "
                 "any asyncify worker: no other thread can run the operation. "
                 "Pass SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT to run it on this "
                 "thread in a private main context"),
               thread_name);
}

void
syncify_error_not_in_worker_own (GError     **error,
                                 const char  *thread_name,
                                 const char  *what)
{
  g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER,
               _("syncify was called on thread \"%s\", which runs %s itself: "
                 "blocking here would stop it. Pass "
                 "SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT to run the operation in "
                 "a private main context, or call it from a worker"),
               thread_name, what);
}

void
syncify_error_not_in_worker_unowned (GError     **error,
                                     const char  *thread_name,
                                     const char  *what)
{
  g_set_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER,
               _("syncify was called on thread \"%s\" for %s, which no other "
                 "thread runs. Pass SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT to run "
                 "the operation on this thread in a private main context"),
               thread_name, what);
}

gpointer
syncify_checked_result (gpointer      result,
                        const GError *error,
                        const char   *func_type)
{
  if (result != NULL && error != NULL)
    {
      g_critical ("A %s returned a result and set an error; the result is leaked",
                  func_type);
      return NULL;
    }
  return result;
}
