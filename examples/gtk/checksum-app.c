/* checksum-app.c: "Checksum", a GTK 4 application that hashes the files of
 * a folder in worker threads with syncify-glib
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   syncify-checksum [FOLDER]
 *   syncify-checksum --self-test=FOLDER --expect=SHA256SUMS --screenshot=FILE.png
 *
 * The self-test mode opens FOLDER, presses Start, checks every digest against
 * the sha256sum-style manifest, presses Start again and Cancel midway,
 * measures how long the main loop ever stalled while workers ran, saves a PNG
 * of the window, prints "self-test: key=value" lines and exits with 0 only if
 * every check passed. examples/gtk/test-checksum-app.c runs it under Xvfb.
 */

#include <glib/gi18n.h>
#include <gtk/gtk.h>

#include "checksum-self-test.h"
#include "checksum-window.h"

static char *self_test_folder;
static char *self_test_expect;
static char *self_test_screenshot;
static int   self_test_status;

static const GOptionEntry options[] = {
  { "self-test", 0, 0, G_OPTION_ARG_FILENAME, &self_test_folder,
    "Run the self-test on FOLDER", "FOLDER" },
  { "expect", 0, 0, G_OPTION_ARG_FILENAME, &self_test_expect,
    "Self-test: the expected digests, in sha256sum format", "SHA256SUMS" },
  { "screenshot", 0, 0, G_OPTION_ARG_FILENAME, &self_test_screenshot,
    "Self-test: save a PNG of the window there", "FILE" },
  { NULL }
};

static int
handle_local_options (GApplication *application,
                      GVariantDict *dict,
                      gpointer      user_data)
{
  if (self_test_folder != NULL)
    {
      if (self_test_expect == NULL || self_test_screenshot == NULL)
        {
          g_printerr ("--self-test needs --expect and --screenshot\n");
          return 2;
        }
      /* A test run must not find (or become) a running instance. */
      g_application_set_flags (application,
                               g_application_get_flags (application) | G_APPLICATION_NON_UNIQUE);
    }

  return -1;
}

static void
startup (GApplication *application,
         gpointer      user_data)
{
  g_autoptr(GtkCssProvider) provider = gtk_css_provider_new ();

  gtk_css_provider_load_from_resource (provider, "/org/syncify/Checksum/style.css");
  gtk_style_context_add_provider_for_display (gdk_display_get_default (),
                                              GTK_STYLE_PROVIDER (provider),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
}

static void
activate (GApplication *application,
          gpointer      user_data)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (application));

  if (window == NULL)
    {
      window = GTK_WINDOW (checksum_window_new (GTK_APPLICATION (application)));
      if (self_test_folder != NULL)
        checksum_self_test_start (CHECKSUM_WINDOW (window), self_test_folder,
                                  self_test_expect, self_test_screenshot,
                                  &self_test_status);
    }

  gtk_window_present (window);
}

static void
open_files (GApplication  *application,
            GFile        **files,
            int            n_files,
            const char    *hint,
            gpointer       user_data)
{
  for (int i = 0; i < n_files; i++)
    {
      ChecksumWindow *window = checksum_window_new (GTK_APPLICATION (application));

      checksum_window_open_folder (window, files[i]);
      gtk_window_present (GTK_WINDOW (window));
    }
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GtkApplication) application = NULL;
  int status;

  application = gtk_application_new ("org.syncify.Checksum", G_APPLICATION_HANDLES_OPEN);
  g_application_add_main_option_entries (G_APPLICATION (application), options);
  g_application_set_option_context_parameter_string (G_APPLICATION (application), "[FOLDER…]");
  g_signal_connect (application, "handle-local-options", G_CALLBACK (handle_local_options), NULL);
  g_signal_connect (application, "startup", G_CALLBACK (startup), NULL);
  g_signal_connect (application, "activate", G_CALLBACK (activate), NULL);
  g_signal_connect (application, "open", G_CALLBACK (open_files), NULL);

  status = g_application_run (G_APPLICATION (application), argc, argv);

  g_clear_pointer (&self_test_folder, g_free);
  g_clear_pointer (&self_test_expect, g_free);
  g_clear_pointer (&self_test_screenshot, g_free);

  return status != 0 ? status : self_test_status;
}
