/* syncify-local.c: where a blocking call runs, and the private main context
 * path with its NOT_IN_WORKER errors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <unistd.h>
#ifdef __linux__
# include <sys/eventfd.h>
#endif

#include "syncify-error-private.h"
#include "syncify-local-private.h"

gboolean
syncify_check_fd_available (GError **error)
{
  int fds[2] = { -1, -1 };

#ifdef __linux__
  fds[0] = eventfd (0, EFD_CLOEXEC);
  if (fds[0] >= 0)
    {
      close (fds[0]);
      return TRUE;
    }
#else
  if (pipe (fds) == 0)
    {
      close (fds[0]);
      close (fds[1]);
      return TRUE;
    }
#endif
  syncify_error_no_main_context (error, errno);
  return FALSE;
}

SyncifyRoute
syncify_route_choose (SyncifyContext *target,
                      SyncifyThread  *thread,
                      gboolean        acquire,
                      gboolean       *acquired)
{
  GMainContext *mc;
  SyncifyThread *owner;

  if (acquired != NULL)
    *acquired = FALSE;

  if (target == NULL)
    return SYNCIFY_ROUTE_LOCAL;

  mc = target->main_context;

  if (g_main_context_is_owner (mc))
    return SYNCIFY_ROUTE_LOCAL;

  if (target->background)
    return SYNCIFY_ROUTE_PUSH;

  if (thread->work_context != NULL && thread->work_context->main_context == mc)
    return SYNCIFY_ROUTE_PUSH;

  /* A live thread iterates it, and may only be between two iterations
   * (g_main_context_iteration() releases the context in between): the
   * work waits for that thread. */
  owner = syncify_inbox_peek_owner (target->inbox);
  if (owner != NULL && owner != thread)
    return SYNCIFY_ROUTE_PUSH;

  if (g_main_context_acquire (mc))
    {
      if (acquire)
        *acquired = TRUE;
      else
        g_main_context_release (mc);
      return SYNCIFY_ROUTE_LOCAL;
    }

  return SYNCIFY_ROUTE_PUSH;
}

typedef struct {
  SyncifyFinishFunc  finish;
  gpointer           user_data;
  gpointer           result;
  GError            *error;
  gboolean           done;
} PrivateOp;

static void
private_op_ready (GObject      *source_object,
                  GAsyncResult *result,
                  gpointer      data)
{
  PrivateOp *op = data;

  op->result = op->finish (source_object, result, op->user_data, &op->error);
  op->result = syncify_checked_result (op->result, op->error, "SyncifyFinishFunc");
  op->done = TRUE;
}

gpointer
syncify_run_private (SyncifyThread     *thread,
                     SyncifyStartFunc   start,
                     SyncifyFinishFunc  finish,
                     gpointer           user_data,
                     GCancellable      *cancellable,
                     GError           **error)
{
  PrivateOp op = { .finish = finish, .user_data = user_data };
  SyncifyWaitState saved;
  GMainContext *private_context;

  if (thread->private_context == NULL)
    {
      /* GLib aborts when it cannot make the context's wake-up fd. */
      if (!syncify_check_fd_available (error))
        return NULL;
      thread->private_context = g_main_context_new ();
    }
  private_context = thread->private_context;

  if (!syncify_block_begin (thread, SYNCIFY_WAIT_PRIVATE, private_context, NULL, NULL,
                            &saved, error))
    return NULL;

  syncify_pool_block_begin ();
  /* The operation may need jobs of this worker's own context. */
  syncify_pool_lend_current ();
  g_main_context_push_thread_default (private_context);

  start (user_data, cancellable, private_op_ready, &op);
  while (!op.done)
    g_main_context_iteration (private_context, TRUE);

  g_main_context_pop_thread_default (private_context);
  syncify_pool_block_end ();
  syncify_wait_end (thread, &saved);

  if (op.error != NULL)
    {
      g_propagate_error (error, op.error);
      return NULL;
    }

  return op.result;
}

void
syncify_set_not_in_worker_error (GError         **error,
                                 SyncifyContext  *target,
                                 SyncifyThread   *thread)
{
  const char *name = syncify_thread_get_name (thread);
  g_autofree char *what = NULL;

  if (target == NULL)
    {
      syncify_error_not_in_worker_no_context (error, name);
      return;
    }

  what = syncify_node_describe (&target->node);
  if (g_main_context_is_owner (target->main_context) ||
      syncify_inbox_peek_owner (target->inbox) == thread)
    syncify_error_not_in_worker_own (error, name, what);
  else
    syncify_error_not_in_worker_unowned (error, name, what);
}
