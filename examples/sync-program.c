/* sync-program.c: the seed's sync program. The same do_sync_work() as in
 * async-program.c, called from plain main() with no main loop anywhere: its
 * syncify runs the async part right here, in a private main context.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *     def sync_main():
 *         message = do_sync_work(name="World")
 *         print(message)
 *
 *     sync_main()
 *
 * Expected: everything on the main thread. Calling it again reuses the same
 * private context, so a loop of such calls does not pay for a new main
 * context each time (the seed's "computational cost" warning).
 */

#include <stdlib.h>

#include "do-sync-work.h"

int
main (void)
{
  const char *names[] = { "World", "again" };

  example_init_main_thread ();
  g_print ("sync program: plain main() calls do_sync_work(), no main loop\n");

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *message = do_sync_work (names[i], &error);
      g_autofree char *expected = g_strdup_printf ("Hello, %s", names[i]);

      if (message == NULL)
        {
          g_printerr ("failed: %s\n", error->message);
          return EXIT_FAILURE;
        }
      g_print ("%s\n", message);

      /* The private path: the async part ran on this very thread. */
      if (g_strcmp0 (message, expected) != 0 ||
          do_async_work_last_thread () != g_thread_self ())
        return EXIT_FAILURE;
    }

  return EXIT_SUCCESS;
}
