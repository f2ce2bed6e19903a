/* test-checksum-app.c: runs the Checksum application for real, on an X
 * display (Xvfb under `meson test`), in its self-test mode
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * This program makes a folder of a few hundred files with known contents and
 * a manifest of their SHA-256 digests, computed here with GChecksum (and
 * checked against two published test vectors), plus entries that cannot be
 * hashed even by root: a dangling symbolic link, a symbolic link loop and a
 * FIFO (and a mode 000 file when not root). It runs the application binary
 * with --self-test, then checks what the application printed and the PNG it
 * wrote: every digest right, the broken entries failed with the right
 * message, the cancelled run stopped, and the screenshot the size of the
 * window.
 */

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gtk/gtk.h>

#define N_DATA_FILES   300
#define N_BIG_FILES    4
#define BIG_FILE_SIZE  (24 * 1024 * 1024)
#define TIMEOUT_S      100

/* Under valgrind (run by hand: CHECKSUM_APP=a wrapper script), less. */
static guint n_data_files = N_DATA_FILES;
static gsize big_file_size = BIG_FILE_SIZE;

#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

typedef struct {
  char       *tmp;
  char       *folder;
  char       *manifest_path;
  char       *screenshot;
  GString    *manifest;
  GPtrArray  *bad_names;      /* entries that must fail, with the message expected */
  GPtrArray  *bad_messages;
  guint       n_digests;
  guint       n_entries;      /* what the window should list */
} Fixture;

typedef struct {
  GMainLoop *loop;
  char      *stdout_text;
  GError    *error;
  gboolean   done;
  gboolean   timed_out;
} Spawn;

static void
add_file (Fixture      *f,
          const char   *name,
          const guchar *data,
          gsize         len)
{
  g_autofree char *path = g_build_filename (f->folder, name, NULL);
  g_autofree char *digest = NULL;
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, (const char *) data, len, &error);
  g_assert_no_error (error);

  digest = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
  g_string_append_printf (f->manifest, "%s  %s\n", digest, name);
  f->n_digests++;
  f->n_entries++;
}

static void
add_bad (Fixture    *f,
         const char *name,
         const char *message)
{
  g_ptr_array_add (f->bad_names, g_strdup (name));
  g_ptr_array_add (f->bad_messages, g_strdup (message));
  f->n_entries++;
}

static void
make_folder (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autofree guchar *big = g_malloc (big_file_size);
  g_autofree char *path = NULL;
  guint32 x = 2463534242u;

  f->tmp = g_dir_make_tmp ("syncify-checksum-XXXXXX", &error);
  g_assert_no_error (error);
  f->folder = g_build_filename (f->tmp, "folder", NULL);
  g_assert_cmpint (g_mkdir (f->folder, 0755), ==, 0);
  f->manifest_path = g_build_filename (f->tmp, "SHA256SUMS", NULL);
  f->manifest = g_string_new (NULL);
  f->bad_names = g_ptr_array_new_with_free_func (g_free);
  f->bad_messages = g_ptr_array_new_with_free_func (g_free);

  /* Known answers first: GChecksum here agrees with FIPS 180-2. */
  {
    g_autofree char *empty = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) "", 0);
    g_autofree char *abc = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) "abc", 3);

    g_assert_cmpstr (empty, ==, SHA256_EMPTY);
    g_assert_cmpstr (abc, ==, SHA256_ABC);
  }
  add_file (f, "abc.txt", (const guchar *) "abc", 3);

  /* Small text files of varied sizes (data-000.txt is empty). */
  for (guint i = 0; i < n_data_files; i++)
    {
      g_autofree char *name = g_strdup_printf ("data-%03u.txt", i);
      g_autoptr(GString) text = g_string_new (NULL);
      gsize size = (i * 7919u) % 65536u;

      while (text->len < size)
        g_string_append_printf (text, "%s line %" G_GSIZE_FORMAT "\n", name, text->len);
      g_string_truncate (text, size);
      add_file (f, name, (const guchar *) text->str, text->len);
    }

  /* A few big ones (xorshift32 noise): a run is still busy with them when
   * the self-test presses Cancel. */
  for (guint i = 0; i < N_BIG_FILES; i++)
    {
      g_autofree char *name = g_strdup_printf ("big-%u.bin", i);

      for (gsize j = 0; j < big_file_size; j += 4)
        {
          x ^= x << 13;
          x ^= x >> 17;
          x ^= x << 5;
          memcpy (big + j, &x, 4);
        }
      add_file (f, name, big, big_file_size);
    }

  /* A symbolic link to a file is hashed as the file. */
  path = g_build_filename (f->folder, "link-to-data-001.txt", NULL);
  g_assert_cmpint (symlink ("data-001.txt", path), ==, 0);
  {
    g_autofree char *contents = NULL;
    g_autofree char *digest = NULL;
    gsize len;

    g_file_get_contents (path, &contents, &len, &error);
    g_assert_no_error (error);
    digest = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
    g_string_append_printf (f->manifest, "%s  %s\n", digest, "link-to-data-001.txt");
    f->n_digests++;
    f->n_entries++;
  }
  g_clear_pointer (&path, g_free);

  /* A folder inside is not listed. */
  path = g_build_filename (f->folder, "subfolder", NULL);
  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  g_clear_pointer (&path, g_free);

  /* Entries nobody can read, root included. */
  path = g_build_filename (f->folder, "bad-dangling-link.txt", NULL);
  g_assert_cmpint (symlink ("does-not-exist.txt", path), ==, 0);
  add_bad (f, "bad-dangling-link.txt", "No such file or directory");
  g_clear_pointer (&path, g_free);

  path = g_build_filename (f->folder, "bad-symlink-loop.txt", NULL);
  g_assert_cmpint (symlink ("bad-symlink-loop.txt", path), ==, 0);
  add_bad (f, "bad-symlink-loop.txt", "Too many levels of symbolic links");
  g_clear_pointer (&path, g_free);

  path = g_build_filename (f->folder, "bad-fifo", NULL);
  g_assert_cmpint (mkfifo (path, 0644), ==, 0);
  add_bad (f, "bad-fifo", "Not a regular file");
  g_clear_pointer (&path, g_free);

  /* Root reads mode 000 files: only a failure for everyone else. */
  if (geteuid () != 0)
    {
      path = g_build_filename (f->folder, "bad-unreadable.txt", NULL);
      g_file_set_contents (path, "secret", -1, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_chmod (path, 0), ==, 0);
      add_bad (f, "bad-unreadable.txt", "Permission denied");
      g_clear_pointer (&path, g_free);
    }

  g_file_set_contents (f->manifest_path, f->manifest->str, f->manifest->len, &error);
  g_assert_no_error (error);
}

static int
remove_entry (const char        *path,
              const struct stat *st,
              int                type,
              struct FTW        *ftw)
{
  return remove (path);
}

static void
fixture_clear (Fixture *f)
{
  if (f->tmp != NULL)
    nftw (f->tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  g_clear_pointer (&f->tmp, g_free);
  g_clear_pointer (&f->folder, g_free);
  g_clear_pointer (&f->manifest_path, g_free);
  g_clear_pointer (&f->screenshot, g_free);
  if (f->manifest != NULL)
    g_string_free (f->manifest, TRUE);
  g_clear_pointer (&f->bad_names, g_ptr_array_unref);
  g_clear_pointer (&f->bad_messages, g_ptr_array_unref);
}

static void
communicated (GObject      *source_object,
              GAsyncResult *result,
              gpointer      data)
{
  Spawn *spawn = data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source_object), result,
                                        &spawn->stdout_text, NULL, &spawn->error);
  spawn->done = TRUE;
  g_main_loop_quit (spawn->loop);
}

static gboolean
spawn_timed_out (gpointer data)
{
  Spawn *spawn = data;

  spawn->timed_out = TRUE;
  g_main_loop_quit (spawn->loop);
  return G_SOURCE_REMOVE;
}

/* "self-test: a=1 b=2" lines into a table; an error[...] value is the rest
 * of its line. */
static GHashTable *
parse_output (const char *text)
{
  GHashTable *values = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      g_auto(GStrv) tokens = NULL;

      if (!g_str_has_prefix (line, "self-test: "))
        continue;
      line += strlen ("self-test: ");

      if (strstr (line, ".error[") != NULL)
        {
          const char *eq = strchr (line, '=');

          if (eq != NULL)
            g_hash_table_insert (values, g_strndup (line, eq - line), g_strdup (eq + 1));
          continue;
        }

      tokens = g_strsplit (line, " ", -1);
      for (guint j = 0; tokens[j] != NULL; j++)
        {
          const char *eq = strchr (tokens[j], '=');

          if (eq != NULL)
            g_hash_table_insert (values, g_strndup (tokens[j], eq - tokens[j]), g_strdup (eq + 1));
        }
    }

  return values;
}

static const char *
value (GHashTable *values,
       const char *key)
{
  const char *v = g_hash_table_lookup (values, key);

  if (v == NULL)
    g_error ("the application did not report %s", key);
  return v;
}

static const char *
peek (GHashTable *values,
      const char *key)
{
  const char *v = g_hash_table_lookup (values, key);

  return v != NULL ? v : "?";
}

static guint
uvalue (GHashTable *values,
        const char *key)
{
  return (guint) g_ascii_strtoull (value (values, key), NULL, 10);
}

/* Reads the size from the PNG header itself (signature, then IHDR). */
static void
png_size (const char *path,
          guint      *width,
          guint      *height,
          gsize      *length)
{
  static const guchar signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  g_autofree guchar *data = NULL;
  g_autoptr(GError) error = NULL;

  g_file_get_contents (path, (char **) &data, length, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (*length, >, 33);
  g_assert_cmpmem (data, 8, signature, 8);
  g_assert_cmpmem (data + 12, 4, "IHDR", 4);
  *width = (guint) data[16] << 24 | (guint) data[17] << 16 | (guint) data[18] << 8 | data[19];
  *height = (guint) data[20] << 24 | (guint) data[21] << 16 | (guint) data[22] << 8 | data[23];
}

static void
test_self_test (void)
{
  Fixture f = { NULL, };
  Spawn spawn = { NULL, };
  const char *app = g_getenv ("CHECKSUM_APP");
  const char *builddir = g_getenv ("G_TEST_BUILDDIR");
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GHashTable) values = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) failed = NULL;
  g_autofree guchar *pixels = NULL;
  guint timeout_id;
  guint n_rows, window_w, window_h, png_w, png_h, shot_w, shot_h;
  guint n_colours = 0;
  const char *scale = g_getenv ("SYNCIFY_TEST_TIMEOUT_SCALE");
  guint timeout_scale = scale != NULL ? MAX (1, atoi (scale)) : 1;
  gsize png_bytes;

  if (g_getenv ("DISPLAY") == NULL || g_getenv ("DISPLAY")[0] == '\0')
    {
      g_test_skip ("no X display (meson test runs this under xvfb-run)");
      return;
    }
  g_assert_nonnull (app);

  make_folder (&f);
  f.screenshot = g_build_filename (builddir != NULL ? builddir : f.tmp,
                                   "checksum-screenshot.png", NULL);
  g_unlink (f.screenshot);
  g_test_message ("folder %s: %u entries, %u digests, %u bad", f.folder,
                  f.n_entries, f.n_digests, f.bad_names->len);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_setenv (launcher, "GDK_BACKEND", "x11", FALSE);
  g_subprocess_launcher_setenv (launcher, "GSK_RENDERER", "cairo", FALSE);
  g_subprocess_launcher_setenv (launcher, "GTK_A11Y", "none", FALSE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_BACKEND", "memory", FALSE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  /* No session bus here: say so, rather than let GDBus try to start one. */
  if (g_getenv ("DBUS_SESSION_BUS_ADDRESS") == NULL)
    g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", "disabled:", TRUE);

  process = g_subprocess_launcher_spawn (launcher, &error, app,
                                         "--self-test", f.folder,
                                         "--expect", f.manifest_path,
                                         "--screenshot", f.screenshot,
                                         NULL);
  g_assert_no_error (error);

  spawn.loop = g_main_loop_new (NULL, FALSE);
  g_subprocess_communicate_utf8_async (process, NULL, NULL, communicated, &spawn);
  timeout_id = g_timeout_add_seconds (TIMEOUT_S * timeout_scale, spawn_timed_out, &spawn);
  g_main_loop_run (spawn.loop);
  if (spawn.timed_out)
    {
      g_subprocess_force_exit (process);
      while (!spawn.done)
        g_main_context_iteration (NULL, TRUE);
    }
  else
    g_source_remove (timeout_id);
  g_main_loop_unref (spawn.loop);

  /* The folder is no longer needed (the screenshot is elsewhere): remove it
   * before any assertion can abort the program. */
  nftw (f.tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  g_assert_no_error (spawn.error);

  /* The application's report, into the test log. */
  lines = g_strsplit (spawn.stdout_text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] != '\0')
      g_test_message ("app: %s", lines[i]);

  /* The figures, before any verdict. */
  values = parse_output (spawn.stdout_text);
  g_test_message ("main-loop stalls while workers ran: run1 timeout probe max %s ms "
                  "(mean %s ms), frame clock max %s ms (mean %s ms); run2 timeout probe "
                  "max %s ms, frame clock max %s ms",
                  peek (values, "run1.stall.timeout-max-ms"),
                  peek (values, "run1.stall.timeout-mean-ms"),
                  peek (values, "run1.stall.frame-max-ms"),
                  peek (values, "run1.stall.frame-mean-ms"),
                  peek (values, "run2.stall.timeout-max-ms"),
                  peek (values, "run2.stall.frame-max-ms"));
  g_test_message ("same probes with the window idle: timeout probe max %s ms, frame clock max %s ms",
                  peek (values, "idle.stall.timeout-max-ms"),
                  peek (values, "idle.stall.frame-max-ms"));
  g_test_message ("workers: max-workers %s; at most %s reading and %s inside their function "
                  "at once (run1); %s threads in the process after run1",
                  peek (values, "run1.max-workers"), peek (values, "run1.max-reading"),
                  peek (values, "run1.max-running"), peek (values, "run1.threads"));


  g_assert_false (spawn.timed_out);
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);

  g_assert_cmpstr (value (values, "result"), ==, "pass");

  /* The folder, as listed. */
  n_rows = uvalue (values, "listed");
  g_assert_cmpuint (n_rows, ==, f.n_entries);
  g_assert_cmpuint (uvalue (values, "expected-digests"), ==, f.n_digests);

  /* Run 1: every digest right, every bad entry failed with its message. */
  g_assert_cmpuint (uvalue (values, "run1.rows"), ==, n_rows);
  g_assert_cmpuint (uvalue (values, "run1.verified"), ==, f.n_digests);
  g_assert_cmpuint (uvalue (values, "run1.done"), ==, f.n_digests);
  g_assert_cmpuint (uvalue (values, "run1.failed"), ==, f.bad_names->len);
  g_assert_cmpuint (uvalue (values, "run1.cancelled"), ==, 0);
  g_assert_cmpuint (uvalue (values, "run1.reports-off-main"), ==, 0);
  failed = g_strsplit (value (values, "run1.failed-names"), ",", -1);
  g_assert_cmpuint (g_strv_length (failed), ==, f.bad_names->len);
  for (guint i = 0; i < f.bad_names->len; i++)
    {
      g_autofree char *key = g_strdup_printf ("run1.error[%s]", (char *) f.bad_names->pdata[i]);

      g_assert_true (g_strv_contains ((const char * const *) failed, f.bad_names->pdata[i]));
      g_assert_nonnull (strstr (value (values, key), f.bad_messages->pdata[i]));
    }

  /* Run 2: cancelled midway, and it stopped. */
  g_assert_cmpuint (uvalue (values, "run2.jobs"), ==, n_rows);
  g_assert_cmpuint (uvalue (values, "run2.cancelled"), >, 0);
  g_assert_cmpuint (uvalue (values, "run2.done") + uvalue (values, "run2.failed"), <, n_rows);
  g_assert_cmpuint (uvalue (values, "run2.started"), <, n_rows);
  g_assert_cmpuint (uvalue (values, "run2.started-after-cancel"), <=,
                    uvalue (values, "run2.max-workers"));
  g_assert_cmpuint (uvalue (values, "run2.reports-after-cancel"), ==, 0);
  g_assert_cmpuint (uvalue (values, "run2.reports-off-main"), ==, 0);

  /* Run 3: the window closed mid-run, the application exited by itself
   * once the run had stopped (the exit status above). */
  g_assert_cmpuint (uvalue (values, "run3.close-after-reports"), >=, 1);
  g_assert_cmpuint (uvalue (values, "run3.cancelled"), >, 0);
  g_assert_cmpuint (uvalue (values, "run3.reports-after-cancel"), ==, 0);
  g_test_message ("closed mid-run: run3 delivered its last result %s ms later, "
                  "the application exited %s ms later",
                  value (values, "run3.finished-after-close-ms"),
                  value (values, "shutdown-after-close-ms"));

  /* The screenshot: a real PNG, the window's size, not blank. */
  g_assert_cmpint (sscanf (value (values, "window-size"), "%ux%u", &window_w, &window_h), ==, 2);
  g_assert_cmpint (sscanf (value (values, "screenshot-size"), "%ux%u", &shot_w, &shot_h), ==, 2);
  png_size (f.screenshot, &png_w, &png_h, &png_bytes);
  g_test_message ("screenshot %s: %ux%u, %" G_GSIZE_FORMAT " bytes; window %ux%u",
                  f.screenshot, png_w, png_h, png_bytes, window_w, window_h);
  g_assert_cmpuint (window_w, >, 100);
  g_assert_cmpuint (window_h, >, 100);
  g_assert_cmpuint (png_w, ==, window_w);
  g_assert_cmpuint (png_h, ==, window_h);
  g_assert_cmpuint (shot_w, ==, window_w);
  g_assert_cmpuint (shot_h, ==, window_h);

  texture = gdk_texture_new_from_filename (f.screenshot, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (texture), ==, (int) window_w);
  g_assert_cmpint (gdk_texture_get_height (texture), ==, (int) window_h);
  pixels = g_malloc ((gsize) window_w * window_h * 4);
  gdk_texture_download (texture, pixels, window_w * 4);
  {
    g_autoptr(GHashTable) colours = g_hash_table_new (NULL, NULL);

    for (gsize i = 0; i < (gsize) window_w * window_h; i += 7)
      {
        guint32 p;

        memcpy (&p, pixels + 4 * i, 4);
        g_hash_table_add (colours, GUINT_TO_POINTER (p));
      }
    n_colours = g_hash_table_size (colours);
  }
  g_test_message ("screenshot: %u distinct colours sampled", n_colours);
  /* Text, buttons and a progress bar, not a blank surface. */
  g_assert_cmpuint (n_colours, >, 16);

  g_hash_table_unref (g_steal_pointer (&values));
  g_free (spawn.stdout_text);
  fixture_clear (&f);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (g_getenv ("SYNCIFY_UNDER_VALGRIND") != NULL)
    {
      n_data_files = 60;
      big_file_size = 1024 * 1024;
    }

  g_test_add_func ("/examples/gtk/checksum/self-test", test_self_test);

  return g_test_run ();
}
