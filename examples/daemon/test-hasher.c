/* test-hasher.c: the hasher daemon on a real (private) message bus, driven by
 * its client library, by `gdbus call` and by hasher-client
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The tests share one bus (GTestDBus) and one daemon, and run in order:
 *
 *   /hasher/start           bus up, daemon spawned, its name appears
 *   /hasher/client-threads  8 threads x 200 blocking calls on one client,
 *                           every SHA-256 checked
 *   /hasher/client-async    async calls from the main loop: results,
 *                           errors, unicast Progress signals
 *   /hasher/gdbus-call      `gdbus call` from the shell, and hasher-client
 *   /hasher/caller-leaves   a caller that closes its connection mid-call
 *                           gets its work cancelled
 *   /hasher/sigterm         SIGTERM with a call running: answered, exit 0,
 *                           name released, no stray threads
 *
 * (Flat paths: GTest runs the tests of one level in the order added.)
 *
 * Every wait is bounded by the watchdog of tests/test-util.h.
 */

#include "../../tests/test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hasher-client.h"

#define MIB (1024 * 1024)

typedef struct {
  char    *path;
  char    *sha256;
  gsize    size;
} TestFile;

static struct {
  GThread         *main_thread;
  gboolean         under_valgrind;
  gboolean         skip_all;
  char            *tmpdir;
  GPtrArray       *files;            /* TestFile */

  GTestDBus       *bus;
  const char      *address;
  GDBusConnection *watcher;          /* private, on the main thread */
  guint            watch_id;
  char            *owner;            /* the daemon's unique name while it owns the name */
  guint            n_appeared;
  guint            n_vanished;

  GSubprocess     *daemon;
  gboolean         daemon_exited;
  char            *daemon_stdout;

  HasherClient    *client;           /* made in /hasher/client-threads */
  guint            client_progress;  /* Progress signals received by @client */
  char            *left_caller;      /* unique name of the caller that left */
} t;

/* ------------------------------------------------------------------------ */

static void
test_file_free (gpointer data)
{
  TestFile *file = data;

  g_unlink (file->path);
  g_free (file->path);
  g_free (file->sha256);
  g_free (file);
}

static TestFile *
make_file (const char *name,
           gsize       size,
           GRand      *rand)
{
  TestFile *file = g_new0 (TestFile, 1);
  g_autofree guchar *data = g_malloc (MAX (size, 1));
  g_autoptr(GError) error = NULL;

  for (gsize i = 0; i < size; i++)
    data[i] = (guchar) g_rand_int_range (rand, 0, 256);
  file->path = g_build_filename (t.tmpdir, name, NULL);
  file->size = size;
  file->sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, size);
  g_file_set_contents (file->path, (const char *) data, size, &error);
  g_assert_no_error (error);
  return file;
}

static TestFile *
test_file (guint i)
{
  return t.files->pdata[i % t.files->len];
}

static gboolean
skip_without_daemon (void)
{
  if (t.skip_all)
    {
      g_test_skip ("no dbus-daemon");
      return TRUE;
    }
  g_assert_nonnull (t.daemon);
  g_assert_false (t.daemon_exited);
  return FALSE;
}

/* The names of this process's threads. */
static GStrv
thread_names (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  const char *tid;

  g_assert_nonnull (dir);
  while ((tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/task", tid, "comm", NULL);
      g_autofree char *comm = NULL;

      if (g_file_get_contents (path, &comm, NULL, NULL))
        g_strv_builder_add (builder, g_strstrip (comm));
    }
  return g_strv_builder_end (builder);
}

static gboolean
has_thread (const char *name)
{
  g_auto(GStrv) names = thread_names ();

  return g_strv_contains ((const char * const *) names, name);
}

static guint64
stat_u64 (GVariant   *stats,
          const char *key)
{
  guint64 value = 0;

  g_assert_true (g_variant_lookup (stats, key, "t", &value));
  return value;
}

static guint32
stat_u32 (GVariant   *stats,
          const char *key)
{
  guint32 value = 0;

  g_assert_true (g_variant_lookup (stats, key, "u", &value));
  return value;
}

static GVariant *
get_stats (void)
{
  g_autoptr(GError) error = NULL;
  GVariant *stats = hasher_client_get_stats (t.client, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (stats);
  return stats;
}

/* ------------------------------------------------------------------------ *
 * /hasher/start
 * ------------------------------------------------------------------------ */

static void
on_name_appeared (GDBusConnection *connection,
                  const char      *name,
                  const char      *owner,
                  gpointer         user_data)
{
  g_assert_true (g_thread_self () == t.main_thread);
  g_free (t.owner);
  t.owner = g_strdup (owner);
  t.n_appeared++;
}

static void
on_name_vanished (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  g_assert_true (g_thread_self () == t.main_thread);
  g_clear_pointer (&t.owner, g_free);
  t.n_vanished++;
}

static void
on_daemon_exited (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_thread_self () == t.main_thread);
  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result,
                                        &t.daemon_stdout, NULL, &error);
  g_assert_no_error (error);
  t.daemon_exited = TRUE;
}

static void
test_daemon_start (void)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dbus_daemon = g_find_program_in_path ("dbus-daemon");
  const char *daemon_path = g_getenv ("HASHER_DAEMON");
  g_autoptr(GRand) rand = g_rand_new_with_seed (20240601);
  const gsize sizes[] = { 0, 1, 55, 4095, 4096, 65535, 65536, 131071, 131072, 131073, 200000, 262161 };

  if (dbus_daemon == NULL)
    {
      t.skip_all = TRUE;
      g_test_skip ("dbus-daemon is not installed (package dbus-daemon)");
      return;
    }
  g_assert_nonnull (daemon_path);

  /* Files with known contents: edge sizes around the daemon's 128 KiB
   * chunks, then random ones. */
  t.tmpdir = g_dir_make_tmp ("test-hasher-XXXXXX", &error);
  g_assert_no_error (error);
  t.files = g_ptr_array_new_with_free_func (test_file_free);
  for (guint i = 0; i < 48; i++)
    {
      g_autofree char *name = g_strdup_printf ("file-%02u", i);
      gsize size = i < G_N_ELEMENTS (sizes) ? sizes[i] : (gsize) g_rand_int_range (rand, 0, 256 * 1024);

      g_ptr_array_add (t.files, make_file (name, size, rand));
    }

  /* A private bus; it sets DBUS_SESSION_BUS_ADDRESS in our environment. */
  t.bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (t.bus);
  t.address = g_test_dbus_get_bus_address (t.bus);
  g_assert_nonnull (t.address);

  t.watcher = g_dbus_connection_new_for_address_sync (t.address,
                                                      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                      G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                      NULL, NULL, &error);
  g_assert_no_error (error);
  t.watch_id = g_bus_watch_name_on_connection (t.watcher, HASHER_BUS_NAME,
                                               G_BUS_NAME_WATCHER_FLAGS_NONE,
                                               on_name_appeared, on_name_vanished, NULL, NULL);

  /* The daemon runs natively (never under valgrind), pointed at our bus,
   * with criticals fatal. Its stdout is its log, read until it exits. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", t.address, TRUE);
  g_subprocess_launcher_setenv (launcher, "G_DEBUG", "fatal-criticals", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "LD_PRELOAD");
  t.daemon = g_subprocess_launcher_spawn (launcher, &error, daemon_path, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (t.daemon, NULL, NULL, on_daemon_exited, NULL);

  test_watchdog_arm ("the daemon to own " HASHER_BUS_NAME);
  while (t.owner == NULL && !t.daemon_exited)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (t.daemon_exited);
  g_assert_cmpuint (t.n_appeared, ==, 1);
  g_test_message ("daemon %s owns %s", t.owner, HASHER_BUS_NAME);
}

/* ------------------------------------------------------------------------ *
 * /hasher/client-threads
 * ------------------------------------------------------------------------ */

typedef struct {
  guint    index;
  guint    n_calls;
  guint64  bytes;
} CallerThread;

static gpointer
caller_thread (gpointer data)
{
  CallerThread *ct = data;

  for (guint i = 0; i < ct->n_calls; i++)
    {
      TestFile *file = test_file (ct->index * 7 + i);
      g_autoptr(GError) error = NULL;
      g_autofree char *sha256 = hasher_client_hash_file (t.client, file->path, NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (sha256, ==, file->sha256);
      ct->bytes += file->size;
    }
  return NULL;
}

static void
on_client_progress (HasherClient *client,
                    const char   *path,
                    guint64       done,
                    guint64       total,
                    gpointer      user_data)
{
  g_assert_true (g_thread_self () == t.main_thread);
  t.client_progress++;
}

static void
test_client_threads (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) before = NULL;
  g_autoptr(GVariant) after = NULL;
  CallerThread threads[8];
  GThread *handles[8];
  guint n_calls = t.under_valgrind ? 20 : 200;
  guint64 bytes = 0;
  gint64 start, elapsed;

  if (skip_without_daemon ())
    return;

  /* Blocking, from the main thread, which runs no loop right now: the
   * connection is made on the client's background thread. */
  g_assert_false (has_thread ("hasher-client"));
  t.client = hasher_client_new (t.address, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (t.client);
  g_assert_true (has_thread ("hasher-client"));
  /* Made on this thread: its "progress" signal comes to this thread's
   * default context. This client hashes small files: none expected. */
  g_signal_connect (t.client, "progress", G_CALLBACK (on_client_progress), NULL);

  before = get_stats ();

  test_watchdog_arm ("8 threads x N blocking HashFile calls");
  start = g_get_monotonic_time ();
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      threads[i] = (CallerThread) { i, n_calls, 0 };
      handles[i] = g_thread_new ("caller", caller_thread, &threads[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      g_thread_join (handles[i]);
      bytes += threads[i].bytes;
    }
  elapsed = MAX (g_get_monotonic_time () - start, 1);

  g_test_message ("%u HashFile calls from 8 threads in %.3f s: %.0f calls/s, %.1f MiB/s hashed",
                  n_calls * 8, elapsed / 1e6, n_calls * 8 * 1e6 / elapsed,
                  bytes / (double) MIB * 1e6 / elapsed);

  after = get_stats ();
  g_assert_cmpuint (stat_u64 (after, "completed") - stat_u64 (before, "completed"), ==, n_calls * 8);
  g_assert_cmpuint (stat_u64 (after, "failed"), ==, stat_u64 (before, "failed"));
  /* One peer, one GetConnectionUnixUser round trip, though its first calls
   * raced in eight workers: the cache lives on the daemon's main thread. */
  g_assert_cmpuint (stat_u64 (after, "uid-lookups") - stat_u64 (before, "uid-lookups"), ==, 1);
  g_assert_cmpuint (stat_u32 (after, "running"), ==, 0);
  g_assert_cmpuint (t.client_progress, ==, 0);
}

/* ------------------------------------------------------------------------ *
 * /hasher/client-async
 * ------------------------------------------------------------------------ */

typedef struct {
  HasherClient *client;
  guint         n_done;
  char         *sha256_big;
  GError       *errors[3];
  guint64       progress_done[16];
  guint64       progress_total;
  guint         n_progress;
} AsyncData;

static void
on_new_client (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  AsyncData *data = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_thread_self () == t.main_thread);
  g_assert_null (source);
  data->client = hasher_client_new_finish (result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (data->client);
  data->n_done++;
}

static void
on_async_progress (HasherClient *client,
                   const char   *path,
                   guint64       done,
                   guint64       total,
                   gpointer      user_data)
{
  AsyncData *data = user_data;

  /* In the thread-default context of the thread that made the client. */
  g_assert_true (g_thread_self () == t.main_thread);
  g_assert_true (client == data->client);
  g_assert_cmpuint (data->n_progress, <, G_N_ELEMENTS (data->progress_done));
  data->progress_done[data->n_progress++] = done;
  data->progress_total = total;
}

static void
on_hashed_big (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  AsyncData *data = user_data;
  g_autoptr(GError) error = NULL;

  /* Like any GIO call: on the caller's thread, from the client. */
  g_assert_true (g_thread_self () == t.main_thread);
  g_assert_true (source == G_OBJECT (data->client));
  data->sha256_big = hasher_client_hash_file_finish (data->client, result, &error);
  g_assert_no_error (error);
  data->n_done++;
}

static void
on_hashed_error (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GError **slot = user_data;
  AsyncData *data = g_object_get_data (source, "test-data");
  char *sha256 = hasher_client_hash_file_finish (HASHER_CLIENT (source), result, slot);

  g_assert_true (g_thread_self () == t.main_thread);
  g_assert_null (sha256);
  g_assert_nonnull (*slot);
  data->n_done++;
}

static void
test_client_async (void)
{
  AsyncData data = { 0, };
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autoptr(GVariant) stats = NULL;
  g_autofree char *missing = NULL;
  TestFile *big;

  if (skip_without_daemon ())
    return;

  /* A second client, made asynchronously from the main loop. */
  hasher_client_new_async (t.address, NULL, on_new_client, &data);
  test_iterate_until_count (NULL, &data.n_done, 1);
  g_object_set_data (G_OBJECT (data.client), "test-data", &data);
  g_signal_connect (data.client, "progress", G_CALLBACK (on_async_progress), &data);

  /* 4 MiB + 123 bytes: Progress after each MiB, to this client only. */
  big = make_file ("big", 4 * MIB + 123, rand);
  missing = g_build_filename (t.tmpdir, "no-such-file", NULL);
  data.n_done = 0;
  hasher_client_hash_file_async (data.client, big->path, NULL, on_hashed_big, &data);
  hasher_client_hash_file_async (data.client, missing, NULL, on_hashed_error, &data.errors[0]);
  hasher_client_hash_file_async (data.client, "relative/path", NULL, on_hashed_error, &data.errors[1]);
  hasher_client_hash_file_async (data.client, t.tmpdir, NULL, on_hashed_error, &data.errors[2]);
  test_iterate_until_count (NULL, &data.n_done, 4);

  g_assert_cmpstr (data.sha256_big, ==, big->sha256);
  /* The daemon's errors, in its own domain (registered with GDBus on both
   * sides), without the "GDBus.Error:" prefix. */
  g_assert_error (data.errors[0], HASHER_ERROR, HASHER_ERROR_NOT_FOUND);
  g_assert_false (g_str_has_prefix (data.errors[0]->message, "GDBus.Error"));
  g_assert_error (data.errors[1], G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_assert_error (data.errors[2], HASHER_ERROR, HASHER_ERROR_NOT_SUPPORTED);

  /* The signals were sent before the reply: they are here. A round trip on
   * the first client's connection, then everything pending on this loop:
   * the first client, which hashed nothing, received none of them. */
  test_watchdog_arm ("the Progress signals");
  while (data.n_progress < 4)
    g_main_context_iteration (NULL, TRUE);
  stats = get_stats ();
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (data.n_progress, ==, 4);
  for (guint i = 0; i < data.n_progress; i++)
    {
      g_assert_cmpuint (data.progress_done[i], >=, (i + 1) * (guint64) MIB);
      g_assert_cmpuint (data.progress_done[i], <=, big->size);
    }
  g_assert_cmpuint (data.progress_total, ==, big->size);
  g_assert_cmpuint (t.client_progress, ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (data.errors); i++)
    g_clear_error (&data.errors[i]);
  g_free (data.sha256_big);
  test_file_free (big);
  g_assert_finalize_object (data.client);
  /* The first client still uses the background thread. */
  g_assert_true (has_thread ("hasher-client"));
}

/* ------------------------------------------------------------------------ *
 * /hasher/gdbus-call
 * ------------------------------------------------------------------------ */

typedef struct {
  gboolean  done;
  char     *out;
  char     *err;
  int       status;
} Run;

static void
on_run_done (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &run->out, &run->err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (G_SUBPROCESS (source)));
  run->status = g_subprocess_get_exit_status (G_SUBPROCESS (source));
  run->done = TRUE;
}

/* Runs a program to completion, bounded by the watchdog. */
static void
run_program (Run                *run,
             const char * const *argv)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *what = g_strjoinv (" ", (char **) argv);

  memset (run, 0, sizeof *run);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", t.address, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "LD_PRELOAD");
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_run_done, run);
  test_watchdog_arm (what);
  while (!run->done)
    g_main_context_iteration (NULL, TRUE);
  g_test_message ("%s: exit %d", what, run->status);
}

static void
run_clear (Run *run)
{
  g_clear_pointer (&run->out, g_free);
  g_clear_pointer (&run->err, g_free);
}

static void
test_cli (void)
{
  const char *gdbus = g_getenv ("HASHER_GDBUS");
  const char *cli = g_getenv ("HASHER_CLI");
  TestFile *a = test_file (5), *b = test_file (20);
  g_autofree char *missing = g_build_filename (t.tmpdir, "no-such-file", NULL);
  g_autofree char *expected = NULL;
  Run run;

  if (skip_without_daemon ())
    return;
  if (gdbus == NULL)
    {
      g_test_skip ("gdbus is not installed (package libglib2.0-bin)");
      return;
    }

  /* gdbus call from the shell: what a user would type. */
  {
    const char *argv[] = { gdbus, "call", "--session", "--dest", HASHER_BUS_NAME,
                           "--object-path", HASHER_OBJECT_PATH,
                           "--method", HASHER_INTERFACE ".HashFile", a->path, NULL };

    run_program (&run, argv);
    g_assert_cmpint (run.status, ==, 0);
    expected = g_strdup_printf ("('%s',)\n", a->sha256);
    g_assert_cmpstr (run.out, ==, expected);
    g_clear_pointer (&expected, g_free);
    run_clear (&run);
  }
  {
    const char *argv[] = { gdbus, "call", "--session", "--dest", HASHER_BUS_NAME,
                           "--object-path", HASHER_OBJECT_PATH,
                           "--method", HASHER_INTERFACE ".HashFile", missing, NULL };

    run_program (&run, argv);
    g_assert_cmpint (run.status, !=, 0);
    g_assert_nonnull (strstr (run.err, "org.syncify.Hasher.Error.NotFound"));
    run_clear (&run);
  }

  /* hasher-client: blocking calls from a plain main(), in order. */
  g_assert_nonnull (cli);
  {
    const char *argv[] = { cli, a->path, b->path, NULL };

    run_program (&run, argv);
    g_assert_cmpint (run.status, ==, 0);
    expected = g_strdup_printf ("%s  %s\n%s  %s\n", a->sha256, a->path, b->sha256, b->path);
    g_assert_cmpstr (run.out, ==, expected);
    g_clear_pointer (&expected, g_free);
    run_clear (&run);
  }
  /* --async: from a main loop, lines in completion order. */
  {
    const char *argv[] = { cli, "--async", a->path, b->path, missing, NULL };
    g_autofree char *line_a = g_strdup_printf ("%s  %s", a->sha256, a->path);
    g_autofree char *line_b = g_strdup_printf ("%s  %s", b->sha256, b->path);
    g_auto(GStrv) lines = NULL;

    run_program (&run, argv);
    g_assert_cmpint (run.status, ==, 1);
    lines = g_strsplit (g_strchomp (run.out), "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, 2);
    g_assert_true (g_strv_contains ((const char * const *) lines, line_a));
    g_assert_true (g_strv_contains ((const char * const *) lines, line_b));
    g_assert_nonnull (strstr (run.err, missing));
    run_clear (&run);
  }
}

/* ------------------------------------------------------------------------ *
 * /hasher/caller-leaves
 * ------------------------------------------------------------------------ */

typedef struct {
  guint   n_progress;
  guint   n_done;
  GError *error;
} PipeCall;

static void
on_pipe_progress (HasherClient *client,
                  const char   *path,
                  guint64       done,
                  guint64       total,
                  gpointer      user_data)
{
  PipeCall *call = user_data;

  g_assert_true (g_thread_self () == t.main_thread);
  g_assert_cmpuint (total, ==, 0);   /* a pipe has no size */
  call->n_progress++;
}

static void
on_pipe_hashed (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  PipeCall *call = user_data;
  char *sha256 = hasher_client_hash_file_finish (HASHER_CLIENT (source), result, &call->error);

  g_assert_true (g_thread_self () == t.main_thread);
  g_assert_null (sha256);
  call->n_done++;
}

/* A named pipe with a writer that never finishes: a HashFile on it runs
 * until cancelled. Returns the write end. */
static int
make_endless_pipe (const char *path)
{
  int fd;

  g_assert_cmpint (mkfifo (path, 0644), ==, 0);
  /* Read-write, so that opening does not wait for a reader and writing
   * never raises SIGPIPE. */
  fd = g_open (path, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  return fd;
}

/* Starts HashFile on a pipe and waits until the worker has read from it. */
static void
start_pipe_call (HasherClient *client,
                 const char   *path,
                 int           fd,
                 PipeCall     *call)
{
  const char chunk[1000] = { 'x', };

  g_signal_connect (client, "progress", G_CALLBACK (on_pipe_progress), call);
  hasher_client_hash_file_async (client, path, NULL, on_pipe_hashed, call);
  g_assert_cmpint (write (fd, chunk, sizeof chunk), ==, sizeof chunk);
  test_iterate_until_count (NULL, &call->n_progress, 1);
  g_assert_cmpuint (call->n_done, ==, 0);
}

static void
test_caller_leaves (void)
{
  g_autofree char *fifo = NULL;
  g_autoptr(GVariant) before = NULL;
  g_autoptr(GError) error = NULL;
  HasherClient *leaver;
  PipeCall call = { 0, };
  int fd;

  if (skip_without_daemon ())
    return;

  fifo = g_build_filename (t.tmpdir, "endless-pipe", NULL);
  fd = make_endless_pipe (fifo);
  before = get_stats ();

  /* A separate client, with its own connection to the bus. */
  leaver = hasher_client_new (t.address, NULL, &error);
  g_assert_no_error (error);
  t.left_caller = g_strdup (hasher_client_get_unique_name (leaver));
  start_pipe_call (leaver, fifo, fd, &call);

  /* The worker now waits in poll() for more from the pipe. */
  {
    g_autoptr(GVariant) stats = get_stats ();
    g_assert_cmpuint (stat_u32 (stats, "running"), ==, 1);
  }

  /* The caller leaves the bus mid-call. Its own call fails locally... */
  g_assert_true (hasher_client_close (leaver, NULL, &error));
  g_assert_no_error (error);
  test_iterate_until_count (NULL, &call.n_done, 1);
  g_assert_error (call.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&call.error);

  /* ... and the daemon cancels the work: the name watch fires on its main
   * thread, the worker wakes from poll() on the cancellable's fd. Nothing
   * is written to the pipe meanwhile. */
  test_watchdog_arm ("the daemon to cancel the departed caller's job");
  for (;;)
    {
      g_autoptr(GVariant) stats = get_stats ();

      if (stat_u64 (stats, "cancelled") == stat_u64 (before, "cancelled") + 1 &&
          stat_u32 (stats, "running") == 0)
        break;
      g_usleep (10 * 1000);
    }

  g_assert_finalize_object (leaver);
  g_close (fd, NULL);
  g_unlink (fifo);
}

/* ------------------------------------------------------------------------ *
 * /hasher/sigterm
 * ------------------------------------------------------------------------ */

static gboolean
allowed_thread (const char *name)
{
  /* The daemon's main thread, GLib's own threads, and the idle workers of
   * syncify-glib's pool. A thread of the daemon's making, or a worker
   * stuck in a job, would show up as something else or as a running job. */
  return g_str_equal (name, "hasher-daemon") ||
         g_str_equal (name, "gmain") ||
         g_str_equal (name, "gdbus") ||
         g_str_equal (name, "pool-spawner") ||
         g_str_has_prefix (name, "pool-") ||
         g_str_has_prefix (name, "syncify-w") ||
         g_str_equal (name, "syncify-monitor");
}

static void
test_sigterm (void)
{
  g_autofree char *fifo = NULL;
  g_autofree char *left_line = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  const char *exit_line = NULL;
  PipeCall call = { 0, };
  guint n_vanished;
  gint64 start;
  char *sha256;
  int fd;

  if (skip_without_daemon ())
    return;
  /* (The watch reported the name vanished once at the start, before the
   * daemon took it.) */
  n_vanished = t.n_vanished;

  /* A call is running when SIGTERM comes. */
  fifo = g_build_filename (t.tmpdir, "endless-pipe-2", NULL);
  fd = make_endless_pipe (fifo);
  start_pipe_call (t.client, fifo, fd, &call);

  start = g_get_monotonic_time ();
  g_subprocess_send_signal (t.daemon, SIGTERM);

  /* The running call is answered, then the daemon exits 0 and its name
   * goes away. */
  test_watchdog_arm ("the daemon to answer and exit after SIGTERM");
  while (call.n_done == 0 || !t.daemon_exited || t.owner != NULL)
    g_main_context_iteration (NULL, TRUE);
  g_test_message ("daemon exited %.1f ms after SIGTERM",
                  (g_get_monotonic_time () - start) / 1000.0);
  g_assert_error (call.error, HASHER_ERROR, HASHER_ERROR_SHUTTING_DOWN);
  g_clear_error (&call.error);
  g_assert_true (g_subprocess_get_if_exited (t.daemon));
  g_assert_cmpint (g_subprocess_get_exit_status (t.daemon), ==, 0);
  g_assert_cmpuint (t.n_vanished, ==, n_vanished + 1);

  /* Its log. */
  g_assert_nonnull (t.daemon_stdout);
  g_test_message ("daemon log:\n%s", t.daemon_stdout);
  lines = g_strsplit (t.daemon_stdout, "\n", -1);
  left_line = g_strdup_printf ("hasher-daemon: %s left the bus: cancelling its 1 job(s)", t.left_caller);
  g_assert_true (g_strv_contains ((const char * const *) lines, left_line));
  g_assert_true (g_strv_contains ((const char * const *) lines, "hasher-daemon: SIGTERM"));
  g_assert_true (g_strv_contains ((const char * const *) lines, "hasher-daemon: stopping: 1 job(s) running"));
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "hasher-daemon: exit "))
      exit_line = lines[i];
  g_assert_nonnull (exit_line);
  g_assert_true (g_str_has_prefix (exit_line, "hasher-daemon: exit 0: 0 jobs running, "));
  {
    g_auto(GStrv) names = g_strsplit (strstr (exit_line, "threads: ") + strlen ("threads: "), " ", -1);

    g_assert_cmpuint (g_strv_length (names), >=, 1);
    for (guint i = 0; names[i] != NULL; i++)
      if (!allowed_thread (names[i]))
        g_error ("the daemon left an unexpected thread: “%s” (%s)", names[i], exit_line);
  }

  /* Nobody owns the name now, and the bus cannot start it. */
  sha256 = hasher_client_hash_file (t.client, test_file (0)->path, NULL, &error);
  g_assert_null (sha256);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN);

  /* The last client: its finalize shuts the background context down, which
   * joins the "hasher-client" thread. (pthread_join() returns when the
   * thread's stack is released, a moment before the kernel drops it from
   * /proc/self/task: hence a bounded look rather than one.) */
  g_assert_finalize_object (g_steal_pointer (&t.client));
  test_watchdog_arm ("the hasher-client thread to be gone");
  while (has_thread ("hasher-client"))
    g_usleep (1000);

  g_close (fd, NULL);
  g_unlink (fifo);
}

/* ------------------------------------------------------------------------ */

int
main (int   argc,
      char *argv[])
{
  int ret;

  test_init (&argc, &argv);
  t.main_thread = g_thread_self ();
  t.under_valgrind = g_getenv ("SYNCIFY_UNDER_VALGRIND") != NULL;

  g_test_add_func ("/hasher/start", test_daemon_start);
  g_test_add_func ("/hasher/client-threads", test_client_threads);
  g_test_add_func ("/hasher/client-async", test_client_async);
  g_test_add_func ("/hasher/gdbus-call", test_cli);
  g_test_add_func ("/hasher/caller-leaves", test_caller_leaves);
  g_test_add_func ("/hasher/sigterm", test_sigterm);

  ret = g_test_run ();

  /* After a failure, do not leave the daemon behind. */
  if (t.daemon != NULL && !t.daemon_exited)
    g_subprocess_force_exit (t.daemon);
  g_clear_object (&t.daemon);
  g_clear_object (&t.client);
  if (t.watch_id != 0)
    g_bus_unwatch_name (t.watch_id);
  if (t.watcher != NULL)
    g_dbus_connection_close_sync (t.watcher, NULL, NULL);
  g_clear_object (&t.watcher);
  if (t.bus != NULL)
    g_test_dbus_down (t.bus);
  g_clear_object (&t.bus);
  g_clear_pointer (&t.files, g_ptr_array_unref);
  if (t.tmpdir != NULL)
    g_rmdir (t.tmpdir);
  g_free (t.tmpdir);
  g_free (t.owner);
  g_free (t.left_caller);
  g_free (t.daemon_stdout);
  return ret;
}
