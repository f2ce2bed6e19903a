/* hasher-cli.c: `hasher-client FILE...`, sha256sum through the hasher daemon
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * By default it calls the blocking hasher_client_hash_file() from plain
 * main(), with no main loop anywhere in this program: the D-Bus traffic runs
 * on the client library's background thread. With --async it runs a main
 * loop instead, starts every call at once with hasher_client_hash_file_async()
 * and prints the daemon's Progress signals to stderr as they come.
 *
 * Output is that of sha256sum: "HASH  PATH" per file. Exit status 1 if any
 * file failed.
 */

#include <locale.h>

#include <syncify-glib/syncify-glib.h>

#include "hasher-client.h"

typedef struct {
  GMainLoop *loop;
  guint      pending;
  int        status;
} AsyncRun;

typedef struct {
  AsyncRun *run;
  char     *path;
} AsyncFile;

static void
on_progress (HasherClient *client,
             const char   *path,
             guint64       done,
             guint64       total,
             gpointer      user_data)
{
  if (total > 0)
    g_printerr ("%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes\n", path, done, total);
  else
    g_printerr ("%s: %" G_GUINT64_FORMAT " bytes\n", path, done);
}

static void
hashed (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  AsyncFile *file = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *sha256 = hasher_client_hash_file_finish (HASHER_CLIENT (source), result, &error);

  if (sha256 != NULL)
    g_print ("%s  %s\n", sha256, file->path);
  else
    {
      g_printerr ("hasher-client: %s: %s\n", file->path, error->message);
      file->run->status = 1;
    }
  if (--file->run->pending == 0)
    g_main_loop_quit (file->run->loop);
  g_free (file->path);
  g_free (file);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) option_context = NULL;
  g_autoptr(HasherClient) client = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) files = NULL;
  g_autofree char *address = NULL;
  gboolean use_async = FALSE;
  int status = 0;
  GOptionEntry entries[] = {
    { "address", 'a', 0, G_OPTION_ARG_STRING, &address, "D-Bus address of the bus (default: the session bus)", "ADDRESS" },
    { "async", 0, 0, G_OPTION_ARG_NONE, &use_async, "Hash all files at once, from a main loop, with progress", NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, "FILE..." },
    G_OPTION_ENTRY_NULL
  };

  setlocale (LC_ALL, "");
  option_context = g_option_context_new ("- print SHA-256 checksums computed by the hasher daemon");
  g_option_context_add_main_entries (option_context, entries, NULL);
  if (!g_option_context_parse (option_context, &argc, &argv, &error))
    {
      g_printerr ("hasher-client: %s\n", error->message);
      return 2;
    }
  if (files == NULL)
    {
      g_printerr ("hasher-client: no file given\n");
      return 2;
    }

  /* Blocking, from main(): no loop runs here, none is needed. */
  client = hasher_client_new (address, NULL, &error);
  if (client == NULL)
    {
      g_printerr ("hasher-client: %s\n", error->message);
      return 1;
    }

  if (!use_async)
    {
      for (guint i = 0; files[i] != NULL; i++)
        {
          /* The daemon resolves paths on its side: send absolute ones. */
          g_autofree char *path = g_canonicalize_filename (files[i], NULL);
          g_autofree char *sha256 = hasher_client_hash_file (client, path, NULL, &error);

          if (sha256 != NULL)
            g_print ("%s  %s\n", sha256, files[i]);
          else
            {
              g_printerr ("hasher-client: %s: %s\n", files[i], error->message);
              g_clear_error (&error);
              status = 1;
            }
        }
    }
  else
    {
      AsyncRun run = { g_main_loop_new (NULL, FALSE), 0, 0 };

      /* The client was made on this thread: its "progress" signal comes to
       * this thread's default context, run by the loop below. */
      g_signal_connect (client, "progress", G_CALLBACK (on_progress), NULL);
      for (guint i = 0; files[i] != NULL; i++)
        {
          g_autofree char *path = g_canonicalize_filename (files[i], NULL);
          AsyncFile *file = g_new0 (AsyncFile, 1);

          file->run = &run;
          file->path = g_strdup (files[i]);
          run.pending++;
          hasher_client_hash_file_async (client, path, NULL, hashed, file);
        }
      g_main_loop_run (run.loop);
      g_main_loop_unref (run.loop);
      status = run.status;
    }

  return status;
}
