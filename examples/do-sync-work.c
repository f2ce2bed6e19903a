/* do-sync-work.c: do_sync_work(), the heart of the seed's "syncify in mainly
 * sync code" example (Asyncer), in C
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *     async def do_async_work(name: str):
 *         await anyio.sleep(1)
 *         return f"Hello, {name}"
 *
 *     def do_sync_work(name: str):
 *         time.sleep(1)
 *         message = syncify(do_async_work, raise_sync_error=False)(name=name)
 *         return message
 *
 * do_async_work() becomes a start/finish pair around a GTask completed by a
 * timeout; raise_sync_error=False becomes SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT.
 */

#include <pthread.h>

#include "do-sync-work.h"

static GThread *main_thread;
static GThread *last_async_thread;   /* (atomic) */

void
example_init_main_thread (void)
{
  main_thread = g_thread_self ();
}

char *
example_describe_thread (void)
{
  char name[32] = { 0, };

  if (g_thread_self () == main_thread)
    return g_strdup ("the main thread");
  if (pthread_getname_np (pthread_self (), name, sizeof name) == 0 && name[0] != '\0')
    return g_strdup_printf ("thread \"%s\"", name);
  return g_strdup_printf ("thread %p", (gpointer) g_thread_self ());
}

GThread *
do_async_work_last_thread (void)
{
  return g_atomic_pointer_get (&last_async_thread);
}

/* ---- do_async_work(name): an asynchronous "sleep, then say hello" ---- */

static gboolean
hello_timeout_cb (gpointer data)
{
  GTask *task = data;
  const char *name = g_task_get_task_data (task);

  g_task_return_pointer (task, g_strdup_printf ("Hello, %s", name), g_free);
  return G_SOURCE_REMOVE;
}

static void
do_async_work_start (gpointer             user_data,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             callback_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, callback_data);
  g_autoptr(GSource) sleep = g_timeout_source_new (100);   /* anyio.sleep() */
  g_autofree char *where = example_describe_thread ();

  g_print ("  do_async_work() starts on %s\n", where);
  g_atomic_pointer_set (&last_async_thread, g_thread_self ());

  g_task_set_task_data (task, g_strdup (user_data), g_free);
  /* The timeout goes to the task's context: the thread-default one, which
   * is the main loop's when pushed, or the private one in sync code. */
  g_task_attach_source (task, sleep, hello_timeout_cb);
}

static gpointer
do_async_work_finish (GObject       *source_object,
                      GAsyncResult  *result,
                      gpointer       user_data,
                      GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- do_sync_work(name): blocking code that needs the async part ---- */

char *
do_sync_work (const char  *name,
              GError     **error)
{
  g_autofree char *where = example_describe_thread ();

  g_print ("  do_sync_work() runs on %s\n", where);
  g_usleep (100 * 1000);   /* time.sleep(): some blocking work */

  /* NULL: the context of the worker we run in, if any. Outside any worker,
   * the flag lets the operation run here in a private main context. */
  return syncify_context_syncify (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT,
                                  do_async_work_start, do_async_work_finish,
                                  (gpointer) name, NULL, error);
}
