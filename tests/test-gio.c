/* test-gio.c: real GIO operations through syncify-glib
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Files in a temporary directory, a TCP echo service on 127.0.0.1, child
 * processes, and a private D-Bus daemon, each driven through asyncify,
 * syncify (pushed to the main loop and on the private path) and background
 * contexts. Every start function records the thread and thread-default main
 * context it ran in, and the tests check them against the contract.
 */

#include <string.h>

#include <glib/gstdio.h>

#include "test-util.h"

static GThread *main_thread;

/* ------------------------------------------------------------------------ *
 * Temporary directories
 * ------------------------------------------------------------------------ */

static char *
make_tmp_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("syncify-gio-XXXXXX", &error);

  g_assert_no_error (error);
  g_assert_nonnull (dir);
  return dir;
}

/* The directories made here are flat. */
static void
remove_tmp_dir (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (path, 0, &error);
  const char *name;

  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      g_assert_cmpint (g_remove (child), ==, 0);
    }
  g_assert_cmpint (g_rmdir (path), ==, 0);
}

/* ------------------------------------------------------------------------ *
 * Completion helpers for the main loop
 * ------------------------------------------------------------------------ */

typedef struct {
  gpointer      result;
  GError       *error;
  GThread      *thread;        /* where the callback ran */
  gboolean      on_default;    /* the default context was being iterated */
  gint          done;          /* (atomic) */
} Outcome;

static void
outcome_clear (Outcome *outcome)
{
  g_clear_error (&outcome->error);
}

static void
asyncify_done_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  Outcome *outcome = data;

  outcome->thread = g_thread_self ();
  outcome->on_default = g_main_context_is_owner (g_main_context_default ()) &&
                        test_thread_default () == g_main_context_default ();
  outcome->result = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source), result,
                                                     &outcome->error);
  g_atomic_int_set (&outcome->done, TRUE);
}

/* ------------------------------------------------------------------------ *
 * asyncify: blocking file I/O off the main loop
 * ------------------------------------------------------------------------ */

typedef struct {
  char    *path;
  char    *contents;
  gint    *destroyed;
} FileJob;

static void
file_job_free (gpointer data)
{
  FileJob *job = data;

  /* user_data_destroy runs in the caller's context. */
  g_assert_true (g_thread_self () == main_thread);
  g_atomic_int_inc (job->destroyed);
  g_free (job->path);
  g_free (job->contents);
  g_free (job);
}

static gpointer
write_then_read_func (gpointer       user_data,
                      GCancellable  *cancellable,
                      GError       **error)
{
  FileJob *job = user_data;
  char *contents = NULL;

  /* Never the calling thread; and the worker belongs to the context. */
  g_assert_true (g_thread_self () != main_thread);
  g_assert_true (syncify_context_get_current () == syncify_context_get_default ());

  if (job->contents != NULL &&
      !g_file_set_contents (job->path, job->contents, -1, error))
    return NULL;
  if (!g_file_get_contents (job->path, &contents, NULL, error))
    return NULL;

  return contents;
}

static void
test_asyncify_file_io (void)
{
  enum { N_JOBS = 8 };
  g_autofree char *dir = make_tmp_dir ();
  SyncifyContext *context = syncify_context_get_default ();
  Outcome outcomes[N_JOBS + 1] = { { 0, }, };
  gint destroyed = 0;

  test_watchdog_arm (G_STRFUNC);

  for (guint i = 0; i <= N_JOBS; i++)
    {
      FileJob *job = g_new0 (FileJob, 1);

      job->path = g_strdup_printf ("%s/file-%u.txt", dir, i);
      /* The last one reads a file nobody wrote. */
      job->contents = i < N_JOBS ? g_strdup_printf ("contents of file %u\n", i) : NULL;
      job->destroyed = &destroyed;
      syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE,
                                write_then_read_func, job, file_job_free, g_free,
                                NULL, asyncify_done_cb, &outcomes[i]);
    }

  for (guint i = 0; i <= N_JOBS; i++)
    test_iterate_until (NULL, &outcomes[i].done);

  for (guint i = 0; i < N_JOBS; i++)
    {
      g_autofree char *expected = g_strdup_printf ("contents of file %u\n", i);
      g_autofree char *result = outcomes[i].result;

      g_assert_no_error (outcomes[i].error);
      g_assert_cmpstr (result, ==, expected);
      g_assert_true (outcomes[i].thread == main_thread);
      g_assert_true (outcomes[i].on_default);
    }

  g_assert_error (outcomes[N_JOBS].error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_null (outcomes[N_JOBS].result);

  /* Every user_data was freed exactly once, on the main thread. */
  g_assert_cmpint (g_atomic_int_get (&destroyed), ==, N_JOBS + 1);

  for (guint i = 0; i <= N_JOBS; i++)
    outcome_clear (&outcomes[i]);
  remove_tmp_dir (dir);
}

/* ------------------------------------------------------------------------ *
 * syncify: GFile async operations from blocking code
 * ------------------------------------------------------------------------ */

typedef struct {
  GFile           *file;
  GBytes          *bytes;
  GFileEnumerator *enumerator;
  GThread         *start_thread;
  GMainContext    *start_context;   /* compared only */
  GThread         *finish_thread;
  GMainContext    *finish_context;  /* compared only */
} FileOp;

static void
file_op_started (FileOp *op)
{
  op->start_thread = g_thread_self ();
  op->start_context = test_thread_default ();
}

static void
file_op_finished (FileOp *op)
{
  op->finish_thread = g_thread_self ();
  op->finish_context = test_thread_default ();
}

static void
load_start (gpointer             user_data,
            GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             callback_data)
{
  FileOp *op = user_data;

  file_op_started (op);
  g_file_load_contents_async (op->file, cancellable, callback, callback_data);
}

static gpointer
load_finish (GObject       *source,
             GAsyncResult  *result,
             gpointer       user_data,
             GError       **error)
{
  char *contents = NULL;
  gsize length = 0;

  file_op_finished (user_data);
  if (!g_file_load_contents_finish (G_FILE (source), result, &contents, &length, NULL, error))
    return NULL;
  return g_bytes_new_take (contents, length);
}

static void
replace_start (gpointer             user_data,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             callback_data)
{
  FileOp *op = user_data;

  file_op_started (op);
  g_file_replace_contents_bytes_async (op->file, op->bytes, NULL, FALSE,
                                       G_FILE_CREATE_NONE, cancellable,
                                       callback, callback_data);
}

static gpointer
replace_finish (GObject       *source,
                GAsyncResult  *result,
                gpointer       user_data,
                GError       **error)
{
  char *etag = NULL;

  file_op_finished (user_data);
  if (!g_file_replace_contents_finish (G_FILE (source), result, &etag, error))
    return NULL;
  return etag != NULL ? etag : g_strdup ("");
}

static void
enumerate_start (gpointer             user_data,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             callback_data)
{
  FileOp *op = user_data;

  file_op_started (op);
  g_file_enumerate_children_async (op->file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                   G_FILE_QUERY_INFO_NONE, G_PRIORITY_DEFAULT,
                                   cancellable, callback, callback_data);
}

static gpointer
enumerate_finish (GObject       *source,
                  GAsyncResult  *result,
                  gpointer       user_data,
                  GError       **error)
{
  file_op_finished (user_data);
  return g_file_enumerate_children_finish (G_FILE (source), result, error);
}

static void
next_files_start (gpointer             user_data,
                  GCancellable        *cancellable,
                  GAsyncReadyCallback  callback,
                  gpointer             callback_data)
{
  FileOp *op = user_data;

  file_op_started (op);
  /* Two at a time, so that listing takes several round trips. */
  g_file_enumerator_next_files_async (op->enumerator, 2, G_PRIORITY_DEFAULT,
                                      cancellable, callback, callback_data);
}

static gpointer
next_files_finish (GObject       *source,
                   GAsyncResult  *result,
                   gpointer       user_data,
                   GError       **error)
{
  file_op_finished (user_data);
  /* An empty list (NULL, no error) is the end: a valid NULL success. */
  return g_file_enumerator_next_files_finish (G_FILE_ENUMERATOR (source), result, error);
}

static void
enumerator_close_start (gpointer             user_data,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             callback_data)
{
  FileOp *op = user_data;

  file_op_started (op);
  g_file_enumerator_close_async (op->enumerator, G_PRIORITY_DEFAULT,
                                 cancellable, callback, callback_data);
}

static gpointer
enumerator_close_finish (GObject       *source,
                         GAsyncResult  *result,
                         gpointer       user_data,
                         GError       **error)
{
  file_op_finished (user_data);
  g_file_enumerator_close_finish (G_FILE_ENUMERATOR (source), result, error);
  return NULL;
}

/* Checks where an operation ran. For the push path: on @expected_thread with
 * the default main context as thread-default. For the private path: on the
 * calling thread with a private main context (the same one every time). */
static void
check_file_op (FileOp        *op,
               GThread       *expected_thread,
               gboolean       private_path,
               GMainContext **private_context)
{
  g_assert_true (op->start_thread == expected_thread);
  g_assert_true (op->finish_thread == expected_thread);
  g_assert_true (op->finish_context == op->start_context);

  if (!private_path)
    {
      g_assert_true (op->start_context == g_main_context_default ());
      return;
    }

  g_assert_true (op->start_context != g_main_context_default ());
  if (*private_context == NULL)
    *private_context = op->start_context;
  /* The private context is the thread's own and is reused. */
  g_assert_true (op->start_context == *private_context);
  /* ...and it is popped again once the call returns. */
  g_assert_true (g_main_context_get_thread_default () != op->start_context);
}

/* Writes three files, reads one back, lists the directory, all through
 * syncify with @self and @flags, and checks where every operation ran. */
static void
run_file_ops (SyncifyContext *self,
              SyncifyFlags    flags,
              const char     *dir,
              GThread        *expected_thread,
              gboolean        private_path)
{
  static const char * const names[] = { "alpha.txt", "beta.txt", "gamma.txt" };
  g_autoptr(GFile) dir_file = g_file_new_for_path (dir);
  g_autoptr(GPtrArray) listed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  GMainContext *private_context = NULL;
  FileOp op = { NULL, };
  guint rounds = 0;

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *text = g_strdup_printf ("%s says hello %u", names[i], i);
      g_autofree char *etag = NULL;

      memset (&op, 0, sizeof op);
      op.file = g_file_get_child (dir_file, names[i]);
      op.bytes = g_bytes_new (text, strlen (text));
      etag = syncify_context_syncify (self, flags, replace_start, replace_finish,
                                      &op, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (etag);
      check_file_op (&op, expected_thread, private_path, &private_context);
      g_clear_pointer (&op.bytes, g_bytes_unref);
      g_clear_object (&op.file);
    }

  {
    g_autoptr(GBytes) bytes = NULL;
    const char *expected = "beta.txt says hello 1";

    memset (&op, 0, sizeof op);
    op.file = g_file_get_child (dir_file, "beta.txt");
    bytes = syncify_context_syncify (self, flags, load_start, load_finish,
                                     &op, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (bytes);
    g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                     expected, strlen (expected));
    check_file_op (&op, expected_thread, private_path, &private_context);
    g_clear_object (&op.file);
  }

  {
    g_autoptr(GFile) missing = g_file_get_child (dir_file, "missing.txt");

    memset (&op, 0, sizeof op);
    op.file = missing;
    g_assert_null (syncify_context_syncify (self, flags, load_start, load_finish,
                                            &op, NULL, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
    g_clear_error (&error);
    check_file_op (&op, expected_thread, private_path, &private_context);
  }

  memset (&op, 0, sizeof op);
  op.file = dir_file;
  op.enumerator = syncify_context_syncify (self, flags, enumerate_start, enumerate_finish,
                                           &op, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (G_IS_FILE_ENUMERATOR (op.enumerator));
  check_file_op (&op, expected_thread, private_path, &private_context);

  for (;;)
    {
      GList *infos;

      infos = syncify_context_syncify (self, flags, next_files_start, next_files_finish,
                                       &op, NULL, &error);
      g_assert_no_error (error);
      check_file_op (&op, expected_thread, private_path, &private_context);
      rounds++;
      if (infos == NULL)
        break;
      for (GList *l = infos; l != NULL; l = l->next)
        g_ptr_array_add (listed, g_strdup (g_file_info_get_name (l->data)));
      g_list_free_full (infos, g_object_unref);
    }

  g_assert_null (syncify_context_syncify (self, flags, enumerator_close_start,
                                          enumerator_close_finish, &op, NULL, &error));
  g_assert_no_error (error);
  check_file_op (&op, expected_thread, private_path, &private_context);
  g_assert_true (g_file_enumerator_is_closed (op.enumerator));
  g_clear_object (&op.enumerator);

  /* 3 files, 2 per round, plus the empty round at the end. */
  g_assert_cmpuint (rounds, ==, 3);
  g_assert_cmpuint (listed->len, ==, G_N_ELEMENTS (names));
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    g_assert_true (g_ptr_array_find_with_equal_func (listed, names[i], g_str_equal, NULL));
}

typedef struct {
  const char *dir;
  GThread    *worker;
} FileOpsJob;

static gpointer
file_ops_worker (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  FileOpsJob *job = user_data;

  job->worker = g_thread_self ();
  g_assert_true (job->worker != main_thread);
  /* NULL: the context this worker belongs to, run by the main loop. */
  run_file_ops (NULL, SYNCIFY_FLAGS_NONE, job->dir, main_thread, FALSE);
  return g_strdup ("done");
}

static void
test_syncify_file_push (void)
{
  g_autofree char *dir = make_tmp_dir ();
  FileOpsJob job = { dir, NULL };
  Outcome outcome = { NULL, };

  test_watchdog_arm (G_STRFUNC);

  syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                            file_ops_worker, &job, NULL, g_free, NULL,
                            asyncify_done_cb, &outcome);
  test_iterate_until (NULL, &outcome.done);

  g_assert_no_error (outcome.error);
  g_assert_cmpstr (outcome.result, ==, "done");
  g_assert_true (outcome.thread == main_thread);
  g_assert_true (job.worker != NULL && job.worker != main_thread);
  g_free (outcome.result);

  remove_tmp_dir (dir);
}

static void
test_syncify_file_private (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autoptr(GError) error = NULL;
  FileOp op = { NULL, };

  test_watchdog_arm (G_STRFUNC);

  /* Plain code, no loop anywhere: without the flag nothing runs. */
  op.file = g_file_new_for_path (dir);
  g_assert_null (syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, enumerate_start,
                                          enumerate_finish, &op, NULL, &error));
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  g_assert_null (op.start_thread);
  g_clear_error (&error);
  g_clear_object (&op.file);

  run_file_ops (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, dir, main_thread, TRUE);
  /* The default context was never iterated for any of it. */
  g_assert_null (g_main_context_get_thread_default ());

  remove_tmp_dir (dir);
}

static gpointer
file_ops_plain_thread (gpointer data)
{
  run_file_ops (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, data, g_thread_self (), TRUE);
  return GINT_TO_POINTER (TRUE);
}

static void
test_syncify_file_private_thread (void)
{
  g_autofree char *dir = make_tmp_dir ();
  GThread *threads[4];
  char *subdirs[G_N_ELEMENTS (threads)];

  test_watchdog_arm (G_STRFUNC);

  /* Several plain threads at once, each with a private context of its own;
   * each works in its own subdirectory. */
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      subdirs[i] = g_strdup_printf ("%s/t%u", dir, i);
      g_assert_cmpint (g_mkdir (subdirs[i], 0700), ==, 0);
      threads[i] = g_thread_new ("plain", file_ops_plain_thread, subdirs[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      g_assert_true (g_thread_join (threads[i]));
      remove_tmp_dir (subdirs[i]);
      g_free (subdirs[i]);
    }
  remove_tmp_dir (dir);
}

/* ------------------------------------------------------------------------ *
 * Sockets: a service on the main loop, clients in asyncify workers
 * ------------------------------------------------------------------------ */

typedef struct {
  guint served;          /* main thread only */
  guint wrong_thread;    /* main thread only (counted there when violated) */
} ServerStats;

typedef struct {
  ServerStats       *stats;
  GSocketConnection *connection;
  guint8             header[4];
  guint8            *response;   /* 4-byte length, "ECHO:", payload */
  gsize              length;     /* of the payload */
} ServerConn;

static void
server_conn_free (ServerConn *sc)
{
  g_object_unref (sc->connection);
  g_free (sc->response);
  g_free (sc);
}

static void
server_check_thread (ServerStats *stats)
{
  if (g_thread_self () != main_thread ||
      !g_main_context_is_owner (g_main_context_default ()))
    stats->wrong_thread++;
}

static void
server_write_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  ServerConn *sc = data;
  g_autoptr(GError) error = NULL;
  gsize written = 0;

  server_check_thread (sc->stats);
  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &written, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, 4 + 5 + sc->length);
  sc->stats->served++;
  server_conn_free (sc);
}

static void
server_read_body_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      data)
{
  ServerConn *sc = data;
  g_autoptr(GError) error = NULL;
  GOutputStream *out;
  guint32 be;
  gsize n = 0;

  server_check_thread (sc->stats);
  g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, sc->length);

  be = GUINT32_TO_BE ((guint32) (5 + sc->length));
  memcpy (sc->response, &be, 4);
  memcpy (sc->response + 4, "ECHO:", 5);

  out = g_io_stream_get_output_stream (G_IO_STREAM (sc->connection));
  g_output_stream_write_all_async (out, sc->response, 4 + 5 + sc->length,
                                   G_PRIORITY_DEFAULT, NULL, server_write_cb, sc);
}

static void
server_read_header_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      data)
{
  ServerConn *sc = data;
  g_autoptr(GError) error = NULL;
  guint32 be;
  gsize n = 0;

  server_check_thread (sc->stats);
  g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 4);

  memcpy (&be, sc->header, 4);
  sc->length = GUINT32_FROM_BE (be);
  g_assert_cmpuint (sc->length, <, 4096);
  sc->response = g_malloc (4 + 5 + sc->length);
  g_input_stream_read_all_async (G_INPUT_STREAM (source), sc->response + 4 + 5, sc->length,
                                 G_PRIORITY_DEFAULT, NULL, server_read_body_cb, sc);
}

static gboolean
server_incoming_cb (GSocketService    *service,
                    GSocketConnection *connection,
                    GObject           *source_object,
                    gpointer           data)
{
  ServerConn *sc = g_new0 (ServerConn, 1);

  sc->stats = data;
  server_check_thread (sc->stats);
  sc->connection = g_object_ref (connection);
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                 sc->header, 4, G_PRIORITY_DEFAULT, NULL,
                                 server_read_header_cb, sc);
  return TRUE;
}

/* The client side: every step is a syncify from an asyncify worker, and
 * every start must run on the main thread. */
static gint client_wrong_thread;   /* (atomic) */

typedef struct {
  GSocketAddress    *address;
  GSocketConnection *connection;
  const guint8      *data;
  guint8            *buffer;
  gsize              length;
} ClientOp;

static void
client_check_thread (void)
{
  if (g_thread_self () != main_thread || test_thread_default () != g_main_context_default ())
    g_atomic_int_inc (&client_wrong_thread);
}

static void
connect_start (gpointer             user_data,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             callback_data)
{
  ClientOp *op = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  client_check_thread ();
  /* The pending operation holds the client. */
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (op->address),
                                 cancellable, callback, callback_data);
}

static gpointer
connect_finish (GObject       *source,
                GAsyncResult  *result,
                gpointer       user_data,
                GError       **error)
{
  client_check_thread ();
  return g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, error);
}

static void
write_all_start (gpointer             user_data,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             callback_data)
{
  ClientOp *op = user_data;

  client_check_thread ();
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (op->connection)),
                                   op->data, op->length, G_PRIORITY_DEFAULT,
                                   cancellable, callback, callback_data);
}

static gpointer
write_all_finish (GObject       *source,
                  GAsyncResult  *result,
                  gpointer       user_data,
                  GError       **error)
{
  ClientOp *op = user_data;
  gsize written = 0;

  client_check_thread ();
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &written, error))
    return NULL;
  g_assert_cmpuint (written, ==, op->length);
  return NULL;   /* a void operation */
}

static void
read_all_start (gpointer             user_data,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             callback_data)
{
  ClientOp *op = user_data;

  client_check_thread ();
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (op->connection)),
                                 op->buffer, op->length, G_PRIORITY_DEFAULT,
                                 cancellable, callback, callback_data);
}

static gpointer
read_all_finish (GObject       *source,
                 GAsyncResult  *result,
                 gpointer       user_data,
                 GError       **error)
{
  gsize n = 0;

  client_check_thread ();
  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &n, error))
    return NULL;
  /* The count read, boxed (0 is a valid count, so never NULL). */
  return g_memdup2 (&n, sizeof n);
}

static void
close_start (gpointer             user_data,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             callback_data)
{
  ClientOp *op = user_data;

  client_check_thread ();
  g_io_stream_close_async (G_IO_STREAM (op->connection), G_PRIORITY_DEFAULT,
                           cancellable, callback, callback_data);
}

static gpointer
close_finish (GObject       *source,
              GAsyncResult  *result,
              gpointer       user_data,
              GError       **error)
{
  client_check_thread ();
  g_io_stream_close_finish (G_IO_STREAM (source), result, error);
  return NULL;
}

typedef struct {
  guint           index;
  GSocketAddress *address;   /* (owned) */
} ClientJob;

static void
client_job_free (gpointer data)
{
  ClientJob *job = data;

  g_object_unref (job->address);
  g_free (job);
}

static gsize
read_exactly (ClientOp  *op,
              guint8    *buffer,
              gsize      length,
              GError   **error)
{
  g_autofree gsize *n = NULL;

  op->buffer = buffer;
  op->length = length;
  n = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, read_all_start, read_all_finish,
                               op, NULL, error);
  return n != NULL ? *n : 0;
}

static gpointer
client_worker (gpointer       user_data,
               GCancellable  *cancellable,
               GError       **error)
{
  ClientJob *job = user_data;
  g_autofree char *payload = g_strdup_printf ("client %u says hello", job->index);
  g_autofree guint8 *request = NULL;
  g_autofree char *reply = NULL;
  ClientOp op = { NULL, };
  guint8 header[4];
  guint32 be;
  gsize length;

  g_assert_true (g_thread_self () != main_thread);

  op.address = job->address;
  op.connection = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, connect_start,
                                           connect_finish, &op, cancellable, error);
  if (op.connection == NULL)
    return NULL;
  g_assert_true (G_IS_SOCKET_CONNECTION (op.connection));

  length = strlen (payload);
  request = g_malloc (4 + length);
  be = GUINT32_TO_BE ((guint32) length);
  memcpy (request, &be, 4);
  memcpy (request + 4, payload, length);
  op.data = request;
  op.length = 4 + length;
  syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, write_all_start, write_all_finish,
                           &op, cancellable, error);
  if (error != NULL && *error != NULL)
    goto out;

  if (read_exactly (&op, header, 4, error) != 4)
    goto out;
  memcpy (&be, header, 4);
  length = GUINT32_FROM_BE (be);
  g_assert_cmpuint (length, <, 4096);
  reply = g_malloc0 (length + 1);
  if (read_exactly (&op, (guint8 *) reply, length, error) != length)
    goto out;

  syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE, close_start, close_finish,
                           &op, cancellable, error);

out:
  g_clear_object (&op.connection);
  if (error != NULL && *error != NULL)
    return NULL;
  return g_steal_pointer (&reply);
}

static void
test_socket_echo (void)
{
  enum { N_CLIENTS = 20 };
  g_autoptr(GSocketService) service = g_socket_service_new ();
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;
  SyncifyContext *context = syncify_context_get_default ();
  ServerStats stats = { 0, };
  Outcome outcomes[N_CLIENTS] = { { 0, }, };
  guint16 port;

  test_watchdog_arm (G_STRFUNC);
  g_atomic_int_set (&client_wrong_thread, 0);

  /* Room for every client in the accept queue at once. */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (service), 2 * N_CLIENTS);
  local = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_socket_listener_add_address (G_SOCKET_LISTENER (service), local,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &effective, &error);
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_assert_cmpuint (port, !=, 0);

  g_signal_connect (service, "incoming", G_CALLBACK (server_incoming_cb), &stats);
  /* Accepts in the thread-default context of this thread: the main loop. */
  g_socket_service_start (service);

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      ClientJob *job = g_new0 (ClientJob, 1);

      job->index = i;
      job->address = g_inet_socket_address_new_from_string ("127.0.0.1", port);
      syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, client_worker,
                                job, client_job_free, g_free, NULL,
                                asyncify_done_cb, &outcomes[i]);
    }

  for (guint i = 0; i < N_CLIENTS; i++)
    test_iterate_until (NULL, &outcomes[i].done);

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      g_autofree char *expected = g_strdup_printf ("ECHO:client %u says hello", i);

      g_assert_no_error (outcomes[i].error);
      g_assert_cmpstr (outcomes[i].result, ==, expected);
      g_assert_true (outcomes[i].thread == main_thread);
      g_free (outcomes[i].result);
    }

  /* The server saw every write complete: wait for the last callbacks. */
  test_watchdog_arm ("the server to finish");
  while (stats.served < N_CLIENTS)
    g_main_context_iteration (NULL, TRUE);

  g_assert_cmpuint (stats.served, ==, N_CLIENTS);
  g_assert_cmpuint (stats.wrong_thread, ==, 0);
  g_assert_cmpint (g_atomic_int_get (&client_wrong_thread), ==, 0);

  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
}

/* ------------------------------------------------------------------------ *
 * Subprocesses
 * ------------------------------------------------------------------------ */

typedef struct {
  GSubprocess  *process;
  GBytes       *input;
  GThread      *start_thread;
  GMainContext *start_context;
} CommOp;

static void
communicate_start (gpointer             user_data,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             callback_data)
{
  CommOp *op = user_data;

  op->start_thread = g_thread_self ();
  op->start_context = test_thread_default ();
  g_subprocess_communicate_async (op->process, op->input, cancellable, callback, callback_data);
}

static gpointer
communicate_finish (GObject       *source,
                    GAsyncResult  *result,
                    gpointer       user_data,
                    GError       **error)
{
  g_autoptr(GBytes) err = NULL;
  GBytes *out = NULL;

  if (!g_subprocess_communicate_finish (G_SUBPROCESS (source), result, &out, &err, error))
    return NULL;
  /* NULL without a stdout pipe: a valid success. */
  return out;
}

/* A payload several times a pipe buffer, so that writing and reading must
 * interleave in the loop. */
static GBytes *
make_payload (void)
{
  gsize size = 256 * 1024;
  guint8 *data = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) ('a' + (i * 7) % 26);
  return g_bytes_new_take (data, size);
}

/* Runs `cat` and `sh -c 'exit 3'` through syncify with @self and @flags; the
 * start function must run on @expected_thread, in the default main context
 * when @private_path is FALSE, in a private one otherwise. */
static void
run_subprocesses (SyncifyContext *self,
                  SyncifyFlags    flags,
                  GThread        *expected_thread,
                  gboolean        private_path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) output = NULL;
  CommOp op = { NULL, };

  op.input = make_payload ();
  op.process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                                 &error, "cat", NULL);
  g_assert_no_error (error);

  output = syncify_context_syncify (self, flags, communicate_start, communicate_finish,
                                    &op, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (output);
  g_assert_true (g_bytes_equal (output, op.input));
  g_assert_true (op.start_thread == expected_thread);
  if (private_path)
    g_assert_true (op.start_context != g_main_context_default ());
  else
    g_assert_true (op.start_context == g_main_context_default ());
  g_assert_true (g_subprocess_get_if_exited (op.process));
  g_assert_cmpint (g_subprocess_get_exit_status (op.process), ==, 0);
  g_clear_object (&op.process);
  g_clear_pointer (&op.input, g_bytes_unref);

  memset (&op, 0, sizeof op);
  op.process = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, "sh", "-c", "exit 3", NULL);
  g_assert_no_error (error);
  g_assert_null (syncify_context_syncify (self, flags, communicate_start, communicate_finish,
                                          &op, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (op.start_thread == expected_thread);
  g_assert_true (g_subprocess_get_if_exited (op.process));
  g_assert_cmpint (g_subprocess_get_exit_status (op.process), ==, 3);
  g_assert_false (g_subprocess_get_successful (op.process));
  g_clear_object (&op.process);
}

static gpointer
subprocess_worker (gpointer       user_data,
                   GCancellable  *cancellable,
                   GError       **error)
{
  g_assert_true (g_thread_self () != main_thread);
  run_subprocesses (NULL, SYNCIFY_FLAGS_NONE, main_thread, FALSE);
  return g_strdup ("done");
}

static void
test_subprocess_push (void)
{
  Outcome outcome = { NULL, };

  test_watchdog_arm (G_STRFUNC);

  syncify_context_asyncify (syncify_context_get_default (), SYNCIFY_FLAGS_NONE,
                            subprocess_worker, NULL, NULL, g_free, NULL,
                            asyncify_done_cb, &outcome);
  test_iterate_until (NULL, &outcome.done);

  g_assert_no_error (outcome.error);
  g_assert_cmpstr (outcome.result, ==, "done");
  g_assert_true (outcome.thread == main_thread);
  g_free (outcome.result);
}

static void
test_subprocess_private (void)
{
  test_watchdog_arm (G_STRFUNC);

  run_subprocesses (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, main_thread, TRUE);
}

/* ------------------------------------------------------------------------ *
 * D-Bus: a connection that lives on a background context
 * ------------------------------------------------------------------------ */

static gpointer
return_self_thread (gpointer       user_data,
                    GCancellable  *cancellable,
                    GError       **error)
{
  return g_thread_self ();
}

typedef struct _BusShared BusShared;

typedef struct {
  const char      *address;
  BusShared       *shared;
  gint             destroyed;   /* (atomic) */
  GDBusConnection *connection;
  GThread         *start_thread;
  GMainContext    *start_context;
  GThread         *finish_thread;
} BusOp;

static void
bus_connect_start (gpointer             user_data,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             callback_data)
{
  BusOp *op = user_data;

  op->start_thread = g_thread_self ();
  op->start_context = test_thread_default ();
  g_dbus_connection_new_for_address (op->address,
                                     G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                     G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                     NULL, cancellable, callback, callback_data);
}

static gpointer
bus_connect_finish (GObject       *source,
                    GAsyncResult  *result,
                    gpointer       user_data,
                    GError       **error)
{
  BusOp *op = user_data;

  op->finish_thread = g_thread_self ();
  return g_dbus_connection_new_for_address_finish (result, error);
}

static void
list_names_start (gpointer             user_data,
                  GCancellable        *cancellable,
                  GAsyncReadyCallback  callback,
                  gpointer             callback_data)
{
  BusOp *op = user_data;

  op->start_thread = g_thread_self ();
  op->start_context = test_thread_default ();
  g_dbus_connection_call (op->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "ListNames", NULL,
                          G_VARIANT_TYPE ("(as)"), G_DBUS_CALL_FLAGS_NONE, -1,
                          cancellable, callback, callback_data);
}

static gpointer
list_names_finish (GObject       *source,
                   GAsyncResult  *result,
                   gpointer       user_data,
                   GError       **error)
{
  BusOp *op = user_data;

  op->finish_thread = g_thread_self ();
  return g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, error);
}

static void
bus_close_start (gpointer             user_data,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             callback_data)
{
  BusOp *op = user_data;

  op->start_thread = g_thread_self ();
  g_dbus_connection_close (op->connection, cancellable, callback, callback_data);
}

static gpointer
bus_close_finish (GObject       *source,
                  GAsyncResult  *result,
                  gpointer       user_data,
                  GError       **error)
{
  g_dbus_connection_close_finish (G_DBUS_CONNECTION (source), result, error);
  return NULL;
}

static gpointer
unref_on_owner (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  g_object_unref (user_data);
  return NULL;
}

/* Checks a ListNames reply: the bus itself and our connection are listed. */
static void
check_names (GVariant        *reply,
             GDBusConnection *connection)
{
  g_autofree const char **names = NULL;
  const char *unique = g_dbus_connection_get_unique_name (connection);

  g_assert_nonnull (reply);
  g_assert_true (g_variant_is_of_type (reply, G_VARIANT_TYPE ("(as)")));
  g_variant_get (reply, "(^a&s)", &names);
  g_assert_true (g_strv_contains (names, "org.freedesktop.DBus"));
  g_assert_nonnull (unique);
  g_assert_true (g_strv_contains (names, unique));
}

struct _BusShared {
  SyncifyContext  *bg;
  GThread         *bg_thread;
  GDBusConnection *connection;
  guint            n_calls;
  gint             wrong_thread;   /* (atomic) */
  gint             ok;             /* (atomic) */
};

static gpointer
bus_caller_thread (gpointer data)
{
  BusShared *shared = data;

  for (guint i = 0; i < shared->n_calls; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = NULL;
      BusOp op = { NULL, };

      op.connection = shared->connection;
      reply = syncify_context_syncify (shared->bg, SYNCIFY_FLAGS_NONE, list_names_start,
                                       list_names_finish, &op, NULL, &error);
      g_assert_no_error (error);
      check_names (reply, shared->connection);
      if (op.start_thread != shared->bg_thread || op.finish_thread != shared->bg_thread ||
          op.start_context != syncify_context_get_main_context (shared->bg))
        g_atomic_int_inc (&shared->wrong_thread);
      else
        g_atomic_int_inc (&shared->ok);
    }

  return NULL;
}

typedef struct {
  GVariant  *reply;
  GError    *error;
  GThread   *thread;
  BusOp      op;
  gint       done;        /* (atomic) */
} BusAsync;

static void
bus_op_destroy (gpointer data)
{
  BusOp *op = data;

  /* user_data_destroy of call_async runs on the owner, after finish. */
  if (g_thread_self () != op->shared->bg_thread)
    g_atomic_int_inc (&op->shared->wrong_thread);
  g_atomic_int_inc (&op->destroyed);
}

static void
bus_call_async_done (GObject      *source,
                     GAsyncResult *result,
                     gpointer      data)
{
  BusAsync *ba = data;

  ba->thread = g_thread_self ();
  ba->reply = syncify_context_call_finish (SYNCIFY_CONTEXT (source), result, &ba->error);
  g_atomic_int_set (&ba->done, TRUE);
}

static void
test_dbus (void)
{
  g_autofree char *daemon = g_find_program_in_path ("dbus-daemon");
  g_autoptr(GTestDBus) bus = NULL;
  g_autoptr(GError) error = NULL;
  SyncifyContext *bg;
  BusShared shared = { NULL, };
  BusOp op = { NULL, };
  BusAsync ba[4];
  GThread *threads[8];
  const char *address;

  if (daemon == NULL)
    {
      g_test_skip ("dbus-daemon is not installed");
      return;
    }

  test_watchdog_arm (G_STRFUNC);

  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
  address = g_test_dbus_get_bus_address (bus);
  g_assert_nonnull (address);

  bg = syncify_context_new_thread ("dbus");
  shared.bg = bg;
  shared.bg_thread = syncify_context_invoke_sync (bg, return_self_thread, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (shared.bg_thread != main_thread);

  /* The connection is made on the background context, so its callbacks
   * and the replies of its calls belong to that context. */
  op.address = address;
  shared.connection = syncify_context_syncify (bg, SYNCIFY_FLAGS_NONE, bus_connect_start,
                                               bus_connect_finish, &op, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (G_IS_DBUS_CONNECTION (shared.connection));
  g_assert_true (op.start_thread == shared.bg_thread);
  g_assert_true (op.finish_thread == shared.bg_thread);
  g_assert_true (op.start_context == syncify_context_get_main_context (bg));
  g_assert_nonnull (g_dbus_connection_get_unique_name (shared.connection));

  /* Synchronously from 8 threads. */
  shared.n_calls = test_scaled (TEST_FEWER_UNDER_VALGRIND, 20, 5);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("bus-caller", bus_caller_thread, &shared);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (g_atomic_int_get (&shared.ok), ==,
                   (gint) (G_N_ELEMENTS (threads) * shared.n_calls));

  /* Asynchronously from the main loop: the reply comes back here. */
  for (guint i = 0; i < G_N_ELEMENTS (ba); i++)
    {
      memset (&ba[i], 0, sizeof ba[i]);
      ba[i].op.shared = &shared;
      ba[i].op.connection = shared.connection;
      syncify_context_call_async (bg, list_names_start, list_names_finish, &ba[i].op,
                                  bus_op_destroy, (GDestroyNotify) g_variant_unref,
                                  NULL, bus_call_async_done, &ba[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (ba); i++)
    {
      test_iterate_until (NULL, &ba[i].done);
      g_assert_no_error (ba[i].error);
      check_names (ba[i].reply, shared.connection);
      g_assert_true (ba[i].thread == main_thread);
      g_assert_true (ba[i].op.start_thread == shared.bg_thread);
      g_assert_true (ba[i].op.finish_thread == shared.bg_thread);
      g_assert_true (ba[i].op.start_context == syncify_context_get_main_context (bg));
      g_assert_cmpint (g_atomic_int_get (&ba[i].op.destroyed), ==, 1);
      g_clear_pointer (&ba[i].reply, g_variant_unref);
    }

  /* Close on its context, then drop it there. */
  memset (&op, 0, sizeof op);
  op.connection = shared.connection;
  syncify_context_syncify (bg, SYNCIFY_FLAGS_NONE, bus_close_start, bus_close_finish,
                           &op, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (op.start_thread == shared.bg_thread);
  /* (Not g_dbus_connection_is_closed(): GDBus marks the connection closed
   * from its worker thread, which may come after the close completes.) */
  g_assert_cmpint (g_atomic_int_get (&shared.wrong_thread), ==, 0);
  syncify_context_invoke_sync (bg, unref_on_owner, g_steal_pointer (&shared.connection),
                               NULL, &error);
  g_assert_no_error (error);

  syncify_context_shutdown (bg);
  g_assert_finalize_object (bg);

  g_test_dbus_down (bus);
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  g_test_add_func ("/syncify/gio/asyncify/file-io", test_asyncify_file_io);
  g_test_add_func ("/syncify/gio/syncify/file/push", test_syncify_file_push);
  g_test_add_func ("/syncify/gio/syncify/file/private", test_syncify_file_private);
  g_test_add_func ("/syncify/gio/syncify/file/private-threads", test_syncify_file_private_thread);
  g_test_add_func ("/syncify/gio/socket/echo", test_socket_echo);
  /* Not "subprocess": GTest skips paths with that component unless asked. */
  g_test_add_func ("/syncify/gio/child-process/push", test_subprocess_push);
  g_test_add_func ("/syncify/gio/child-process/private", test_subprocess_private);
  g_test_add_func ("/syncify/gio/dbus/background", test_dbus);

  return g_test_run ();
}
