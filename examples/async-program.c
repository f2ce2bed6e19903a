/* async-program.c: the seed's async program. A main loop asyncifies a
 * blocking function, do_sync_work(), which itself needs an async operation:
 * its syncify pushes that operation back to the main loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *     async def main():
 *         message = await asyncify(do_sync_work)(name="World")
 *         print(message)
 *
 *     anyio.run(main)
 *
 * Expected: do_sync_work() on a worker thread, do_async_work() on the main
 * thread (the main loop ran it), the message printed by a callback on the
 * main thread.
 */

#include <stdlib.h>

#include "do-sync-work.h"

typedef struct {
  GMainLoop *loop;
  int        status;
} Program;

/* Runs in a worker thread. */
static gpointer
do_sync_work_in_worker (gpointer       user_data,
                        GCancellable  *cancellable,
                        GError       **error)
{
  return do_sync_work (user_data, error);
}

/* Runs on the main loop, like any GAsyncReadyCallback. */
static void
message_ready (GObject      *source_object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Program *program = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  g_autofree char *where = example_describe_thread ();

  message = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object), result, &error);
  if (message == NULL)
    {
      g_printerr ("failed: %s\n", error->message);
      program->status = EXIT_FAILURE;
    }
  else
    {
      g_print ("  the callback gets \"%s\" on %s\n", message, where);
      g_print ("%s\n", message);
      /* The main loop ran the async part: that is what "pushed" means. */
      if (g_strcmp0 (message, "Hello, World") != 0 ||
          do_async_work_last_thread () != g_thread_self ())
        program->status = EXIT_FAILURE;
    }

  g_main_loop_quit (program->loop);
}

int
main (void)
{
  Program program = { g_main_loop_new (NULL, FALSE), EXIT_SUCCESS };

  example_init_main_thread ();
  g_print ("async program: a main loop asyncifies do_sync_work()\n");

  syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                            do_sync_work_in_worker, (gpointer) "World", NULL, g_free,
                            NULL, message_ready, &program);
  g_main_loop_run (program.loop);

  g_main_loop_unref (program.loop);
  return program.status;
}
