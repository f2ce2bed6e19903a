/* test-await.c: one asynchronous implementation serving blocking and
 * asynchronous callers through a background context (await, await_async,
 * SYNCIFY_DEFINE_START_FUNC, SyncifyIterator)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "test-util.h"

#include <glib/gstdio.h>

static GThread *main_thread;

/* ------------------------------------------------------------------------ *
 * A small client library whose real implementation is asynchronous and
 * bound to the thread that created it (like a GDBusConnection). Its blocking
 * and .aio()-style forms are derived from that one implementation.
 * ------------------------------------------------------------------------ */

#define TEST_TYPE_CLIENT (test_client_get_type ())
G_DECLARE_FINAL_TYPE (TestClient, test_client, TEST, CLIENT, GObject)

struct _TestClient
{
  GObject         parent_instance;
  SyncifyContext *bg;          /* (owned) */
  GThread        *home;        /* the thread it must be used from */
  guint           n_calls;     /* only touched on @home */
};

G_DEFINE_FINAL_TYPE (TestClient, test_client, G_TYPE_OBJECT)

static gint n_instances;

static void
test_client_finalize (GObject *object)
{
  TestClient *self = TEST_CLIENT (object);

  g_clear_object (&self->bg);
  g_atomic_int_add (&n_instances, -1);
  G_OBJECT_CLASS (test_client_parent_class)->finalize (object);
}

static void
test_client_class_init (TestClientClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_client_finalize;
}

static void
test_client_init (TestClient *self)
{
  g_atomic_int_inc (&n_instances);
}

static gboolean
return_from_idle (gpointer data)
{
  GTask *task = data;

  /* Completes on the thread that started the operation. */
  g_task_return_pointer (task, g_strdup (g_task_get_task_data (task)), g_free);
  return G_SOURCE_REMOVE;
}

/* Completes with @text on the next iteration of the thread-default context,
 * or never (until cancelled) if @text is NULL. */
static void
complete_later (gpointer             source,
                const char          *text,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             user_data)
{
  GTask *task = g_task_new (source, cancellable, callback, user_data);

  if (text == NULL)
    {
      /* Only cancellation ends it. */
      test_task_until_cancelled (task);
      g_object_unref (task);
      return;
    }

  g_task_set_task_data (task, g_strdup (text), g_free);
  {
    /* On the thread-default context, like every GIO operation. */
    g_autoptr(GSource) idle = g_idle_source_new ();
    g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();

    g_source_set_callback (idle, return_from_idle, task, g_object_unref);
    g_source_attach (idle, context);
  }
}

/* The method: must run on the client's own thread. */
static void
test_client_echo_async (TestClient          *self,
                        const char          *text,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_assert_true (g_thread_self () == self->home);
  self->n_calls++;
  complete_later (self, text, cancellable, callback, user_data);
}

static char *
test_client_echo_finish (TestClient    *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  test_task_disconnect (result);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The class-level operation: creates a client on the calling thread. */
static void
test_client_new_async (GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  TestClient *client = g_object_new (TEST_TYPE_CLIENT, NULL);
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  client->home = g_thread_self ();
  g_task_return_pointer (task, client, g_object_unref);
  g_object_unref (task);
}

static TestClient *
test_client_new_finish (GAsyncResult  *result,
                        GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The free function. */
static void
test_lookup_async (const char          *key,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  g_autofree char *value = g_strdup_printf ("value-of-%s", key);

  complete_later (NULL, value, cancellable, callback, user_data);
}

static char *
test_lookup_finish (GAsyncResult  *result,
                    GError       **error)
{
  test_task_disconnect (result);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- The blocking forms, each a handful of lines through the library. --- */

typedef struct { const char *key; } LookupArgs;
SYNCIFY_DEFINE_START_FUNC (lookup_start, LookupArgs,
                           test_lookup_async (args->key, cancellable, callback, callback_data))

static char *
test_lookup (SyncifyContext *bg, const char *key, GCancellable *cancellable, GError **error)
{
  LookupArgs args = { key };
  g_autoptr(GAsyncResult) result = syncify_context_await (bg, SYNCIFY_FLAGS_NONE, lookup_start,
                                                          &args, cancellable, error);
  return result != NULL ? test_lookup_finish (result, error) : NULL;
}

typedef struct { TestClient *self; const char *text; } EchoArgs;
SYNCIFY_DEFINE_START_FUNC (echo_start, EchoArgs,
                           test_client_echo_async (args->self, args->text, cancellable, callback, callback_data))

static char *
test_client_echo (TestClient *self, const char *text, GCancellable *cancellable, GError **error)
{
  EchoArgs args = { self, text };
  g_autoptr(GAsyncResult) result = syncify_context_await (self->bg, SYNCIFY_FLAGS_NONE, echo_start,
                                                          &args, cancellable, error);
  return result != NULL ? test_client_echo_finish (self, result, error) : NULL;
}

SYNCIFY_DEFINE_START_FUNC (client_new_start, void,
                           test_client_new_async (cancellable, callback, callback_data))

static TestClient *
test_client_new (SyncifyContext *bg, GError **error)
{
  g_autoptr(GAsyncResult) result = syncify_context_await (bg, SYNCIFY_FLAGS_NONE, client_new_start,
                                                          NULL, NULL, error);
  TestClient *client = result != NULL ? test_client_new_finish (result, error) : NULL;

  if (client != NULL)
    client->bg = g_object_ref (bg);
  return client;
}

/* --- The asynchronous (.aio()) form of the method, run on the client's
 * thread whatever thread calls it. --- */

static void
echo_args_free (gpointer data)
{
  EchoArgs *args = data;

  g_free ((char *) args->text);
  g_object_unref (args->self);
  g_free (args);
}

static void
test_client_echo_aio (TestClient          *self,
                      const char          *text,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  EchoArgs *args = g_new0 (EchoArgs, 1);

  args->self = g_object_ref (self);
  args->text = g_strdup (text);
  syncify_context_await_async (self->bg, echo_start, args, echo_args_free,
                               cancellable, callback, user_data);
}

static char *
test_client_echo_aio_finish (TestClient    *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_autoptr(GAsyncResult) inner = syncify_context_await_finish (self->bg, result, error);

  return inner != NULL ? test_client_echo_finish (self, inner, error) : NULL;
}

/* ------------------------------------------------------------------------ */

typedef struct {
  TestClient *client;
  guint       n;
  gint        done;
} ThreadsData;

static gpointer
echo_thread (gpointer data)
{
  ThreadsData *td = data;

  for (guint i = 0; i < td->n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *expected = g_strdup_printf ("t%p-%u", (gpointer) g_thread_self (), i);
      g_autofree char *echoed = test_client_echo (td->client, expected, NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (echoed, ==, expected);
    }

  g_atomic_int_inc (&td->done);
  return NULL;
}

static void
echo_aio_done (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  ThreadsData *td = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *echoed = test_client_echo_aio_finish (td->client, result, &error);

  g_assert_true (g_thread_self () == main_thread);
  g_assert_no_error (error);
  g_assert_cmpstr (echoed, ==, "from-the-main-loop");
  g_atomic_int_inc (&td->done);
}

static void
test_await_forms (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("client");
  g_autoptr(GError) error = NULL;
  g_autoptr(TestClient) client = NULL;
  g_autofree char *value = NULL;
  GThread *threads[8];
  ThreadsData td = { 0, };
  guint n_per_thread = test_scaled (TEST_FEWER_UNDER_VALGRIND, 200, 20);

  /* Class-level: the client is created on the background thread. */
  client = test_client_new (bg, &error);
  g_assert_no_error (error);
  g_assert_nonnull (client);
  g_assert_true (client->home != g_thread_self ());

  /* Free function. */
  value = test_lookup (bg, "colour", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "value-of-colour");

  /* Method, blocking, from 8 threads at once: every call runs on the
   * client's own thread (test_client_echo_async asserts it). */
  td.client = client;
  td.n = n_per_thread;
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("echo", echo_thread, &td);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (g_atomic_int_get (&td.done), ==, G_N_ELEMENTS (threads));

  /* Method, asynchronously from the main loop. */
  g_atomic_int_set (&td.done, 0);
  test_client_echo_aio (client, "from-the-main-loop", NULL, echo_aio_done, &td);
  test_iterate_until (NULL, &td.done);

  g_assert_cmpuint (client->n_calls, ==, n_per_thread * G_N_ELEMENTS (threads) + 1);
}

/* A blocking call whose cancellable fires cancels the operation on the
 * background context. */
typedef struct {
  TestClient   *client;
  GCancellable *cancellable;
  GError       *error;
  gint          returned;
} BlockedData;

static gpointer
blocked_thread (gpointer data)
{
  BlockedData *bd = data;
  char *echoed = test_client_echo (bd->client, NULL /* never completes */, bd->cancellable, &bd->error);

  g_assert_null (echoed);
  g_atomic_int_set (&bd->returned, 1);
  return NULL;
}

static gpointer
count_calls (gpointer       data,
             GCancellable  *cancellable,
             GError       **error)
{
  return GUINT_TO_POINTER (TEST_CLIENT (data)->n_calls);
}

static void
aio_cancelled_done (GObject      *source,
                    GAsyncResult *result,
                    gpointer      data)
{
  BlockedData *bd = data;

  g_assert_null (test_client_echo_aio_finish (bd->client, result, &bd->error));
  g_atomic_int_set (&bd->returned, 1);
}

static void
test_await_cancel_both_ways (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("client");
  g_autoptr(GError) error = NULL;
  g_autoptr(TestClient) client = test_client_new (bg, &error);
  BlockedData bd = { client, g_cancellable_new (), NULL, 0 };
  GThread *thread;

  g_assert_no_error (error);

  /* Blocking side. */
  thread = g_thread_new ("blocked", blocked_thread, &bd);
  /* Wait until the operation has started on the background thread. */
  test_watchdog_arm ("the operation to start");
  while (GPOINTER_TO_UINT (syncify_context_invoke_sync (bg, count_calls, client, NULL, NULL)) < 1)
    g_thread_yield ();
  g_assert_cmpint (g_atomic_int_get (&bd.returned), ==, 0);
  g_cancellable_cancel (bd.cancellable);
  g_thread_join (thread);
  g_assert_error (bd.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&bd.error);
  g_clear_object (&bd.cancellable);

  /* Asynchronous side. */
  bd.cancellable = g_cancellable_new ();
  bd.returned = 0;
  test_client_echo_aio (client, NULL, bd.cancellable, aio_cancelled_done, &bd);
  test_watchdog_arm ("the aio operation to start");
  while (GPOINTER_TO_UINT (syncify_context_invoke_sync (bg, count_calls, client, NULL, NULL)) < 2)
    g_thread_yield ();
  g_assert_cmpint (g_atomic_int_get (&bd.returned), ==, 0);
  g_cancellable_cancel (bd.cancellable);
  test_iterate_until (NULL, &bd.returned);
  g_assert_error (bd.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&bd.error);
  g_clear_object (&bd.cancellable);
}

/* Misuse on the background thread itself: await there without the flag is
 * refused at once; with it, it runs in a private context on that thread. */
static gpointer
await_on_own_thread (gpointer       data,
                     GCancellable  *cancellable,
                     GError       **error)
{
  SyncifyContext *bg = data;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  LookupArgs args = { "x" };
  char *value;

  result = syncify_context_await (bg, SYNCIFY_FLAGS_NONE, lookup_start, &args, NULL, &local_error);
  g_assert_null (result);
  g_assert_error (local_error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  g_clear_error (&local_error);

  result = syncify_context_await (bg, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, lookup_start, &args,
                                  NULL, &local_error);
  g_assert_no_error (local_error);
  value = test_lookup_finish (result, &local_error);
  g_assert_no_error (local_error);
  return value;
}

static void
test_await_on_own_thread (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("client");
  g_autoptr(GError) error = NULL;
  g_autofree char *value = syncify_context_invoke_sync (bg, await_on_own_thread, bg, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "value-of-x");
}

/* ------------------------------------------------------------------------ *
 * Streams: a directory of many files, enumerated on the background context,
 * consumed one GFileInfo at a time from blocking code.
 * ------------------------------------------------------------------------ */

typedef struct {
  GFile           *dir;
  GFileEnumerator *enumerator;     /* created and used on the bg thread */
  GList           *batch;          /* GFileInfo, fetched ahead on the bg thread */
  GThread         *home;
  guint            n_fetches;
  gint            *freed_on_home;  /* set by the destroy notify */
} DirState;

static void
dir_state_free (gpointer data)
{
  DirState *st = data;

  if (st->home != NULL)
    g_atomic_int_set (st->freed_on_home, g_thread_self () == st->home ? 1 : -1);
  g_list_free_full (st->batch, g_object_unref);
  g_clear_object (&st->enumerator);   /* closes it, on its own thread */
  g_object_unref (st->dir);
  g_free (st);
}

static void
got_batch (GObject      *source,
           GAsyncResult *result,
           gpointer      data)
{
  GTask *task = data;
  DirState *st = g_task_get_task_data (task);
  GError *error = NULL;
  GList *infos = g_file_enumerator_next_files_finish (G_FILE_ENUMERATOR (source), result, &error);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    {
      st->batch = infos;   /* NULL at the end */
      g_task_return_boolean (task, TRUE);
    }
  g_object_unref (task);
}

static void
got_enumerator (GObject      *source,
                GAsyncResult *result,
                gpointer      data)
{
  GTask *task = data;
  DirState *st = g_task_get_task_data (task);
  GError *error = NULL;

  st->enumerator = g_file_enumerate_children_finish (G_FILE (source), result, &error);
  if (error != NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  st->n_fetches++;
  g_file_enumerator_next_files_async (st->enumerator, 100, G_PRIORITY_DEFAULT,
                                      g_task_get_cancellable (task), got_batch, task);
}

static void
dir_next_start (gpointer             data,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             callback_data)
{
  DirState *st = data;
  GTask *task = g_task_new (NULL, cancellable, callback, callback_data);

  g_task_set_task_data (task, st, NULL);
  if (st->home == NULL)
    st->home = g_thread_self ();
  g_assert_true (st->home == g_thread_self ());

  if (st->batch != NULL)
    {
      /* An item is ready: no I/O for this round trip. */
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
  else if (st->enumerator == NULL)
    g_file_enumerate_children_async (st->dir, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                     G_FILE_QUERY_INFO_NONE, G_PRIORITY_DEFAULT,
                                     cancellable, got_enumerator, task);
  else
    {
      st->n_fetches++;
      g_file_enumerator_next_files_async (st->enumerator, 100, G_PRIORITY_DEFAULT,
                                          cancellable, got_batch, task);
    }
}

static gpointer
dir_next_finish (GObject       *source,
                 GAsyncResult  *result,
                 gpointer       data,
                 GError       **error)
{
  DirState *st = data;
  gpointer info;

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;
  if (st->batch == NULL)
    return NULL;   /* the end */

  info = st->batch->data;
  st->batch = g_list_delete_link (st->batch, st->batch);
  return info;
}

static void
make_files (const char *dir,
            guint       n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s/file-%05u", dir, i);
      g_autoptr(GError) error = NULL;

      g_file_set_contents (name, "x", 1, &error);
      g_assert_no_error (error);
    }
}

static void
remove_files (const char *dir,
              guint       n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s/file-%05u", dir, i);
      g_assert_cmpint (g_unlink (name), ==, 0);
    }
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static SyncifyIterator *
dir_iterator_new (SyncifyContext *bg,
                  SyncifyFlags    flags,
                  const char     *path,
                  gint           *freed_on_home,
                  DirState      **out_state)
{
  DirState *st = g_new0 (DirState, 1);

  st->dir = g_file_new_for_path (path);
  st->freed_on_home = freed_on_home;
  *out_state = st;
  return syncify_iterator_new (bg, flags, dir_next_start, dir_next_finish, st, dir_state_free);
}

static void
test_iterator_directory (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("files");
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("syncify-iter-XXXXXX", &error);
  guint n_files = test_scaled (TEST_FEWER_UNDER_VALGRIND, 10000, 500);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  SyncifyIterator *it;
  DirState *st;
  gint freed_on_home = 0;
  gpointer item;
  guint n = 0;

  test_watchdog_arm (g_test_get_path ());

  g_assert_no_error (error);
  make_files (dir, n_files);

  /* Every item, one at a time, from a thread with no loop. */
  it = dir_iterator_new (bg, SYNCIFY_FLAGS_NONE, dir, &freed_on_home, &st);
  while (syncify_iterator_next (it, &item, NULL, &error))
    {
      g_autoptr(GFileInfo) info = item;

      g_assert_true (g_hash_table_add (seen, g_strdup (g_file_info_get_name (info))));
      n++;
    }
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, n_files);
  g_assert_true (syncify_iterator_is_done (it));
  g_assert_false (syncify_iterator_next (it, &item, NULL, &error));
  g_assert_no_error (error);
  /* One round trip per item at most: batches of 100 were fetched. */
  g_assert_cmpuint (st->n_fetches, <=, n_files / 100 + 2);
  g_assert_finalize_object (it);
  g_assert_cmpint (freed_on_home, ==, 1);

  /* Early stop: the state is freed on the background thread. */
  freed_on_home = 0;
  it = dir_iterator_new (bg, SYNCIFY_FLAGS_NONE, dir, &freed_on_home, &st);
  for (guint i = 0; i < 50; i++)
    {
      g_assert_true (syncify_iterator_next (it, &item, NULL, &error));
      g_assert_no_error (error);
      g_object_unref (item);
    }
  g_assert_cmpint (freed_on_home, ==, 0);
  syncify_iterator_close (it);
  g_assert_cmpint (freed_on_home, ==, 1);
  g_assert_false (syncify_iterator_next (it, &item, NULL, &error));
  g_assert_no_error (error);
  g_assert_finalize_object (it);

  /* Plain sync code, no background context: the private-context path. */
  freed_on_home = 0;
  n = 0;
  it = dir_iterator_new (NULL, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, dir, &freed_on_home, &st);
  while (syncify_iterator_next (it, &item, NULL, &error))
    {
      g_object_unref (item);
      n++;
    }
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, n_files);
  g_assert_true (st->home == g_thread_self ());
  g_assert_finalize_object (it);
  g_assert_cmpint (freed_on_home, ==, 1);

  remove_files (dir, n_files);
}

/* ------------------------------------------------------------------------ *
 * await_full_async: the .aio() form with the caller's source object and tag,
 * and no task of its own.
 * ------------------------------------------------------------------------ */

typedef struct {
  TestClient *self;      /* (owned) */
  char       *text;      /* (owned) (nullable): NULL never completes */
  gint       *n_freed;   /* counts user_data_destroy */
} FullArgs;

static gint n_full_results_freed;

static void
full_args_free (gpointer data)
{
  FullArgs *args = data;

  /* On the client's thread after the finish function, or in the caller's
   * context if the operation never started. */
  g_assert_true (g_thread_self () == args->self->home || g_thread_self () == main_thread);
  g_atomic_int_inc (args->n_freed);
  g_object_unref (args->self);
  g_free (args->text);
  g_free (args);
}

static void
full_result_free (gpointer data)
{
  g_free (data);
  g_atomic_int_inc (&n_full_results_freed);
}

SYNCIFY_DEFINE_START_FUNC (full_echo_start, FullArgs,
                           test_client_echo_async (args->self, args->text, cancellable,
                                                   callback, callback_data))

/* On the client's thread, inside the operation's completion callback. */
static gpointer
full_echo_finish (GObject       *source,
                  GAsyncResult  *result,
                  gpointer       data,
                  GError       **error)
{
  FullArgs *args = data;

  g_assert_true (g_thread_self () == args->self->home);
  return test_client_echo_finish (args->self, result, error);
}

/* The whole .aio() form of test_client_echo (). */
static void
test_client_echo_full_async (TestClient          *self,
                             const char          *text,
                             gint                *n_freed,
                             gboolean             finish_on_owner,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  FullArgs *args = g_new0 (FullArgs, 1);

  args->self = g_object_ref (self);
  args->text = g_strdup (text);
  args->n_freed = n_freed;
  syncify_await_full_async (self->bg, self, test_client_echo_full_async,
                                    full_echo_start,
                                    finish_on_owner ? full_echo_finish : NULL, args,
                                    full_args_free, finish_on_owner ? full_result_free : NULL,
                                    cancellable, callback, user_data);
}

static char *
test_client_echo_full_finish (TestClient    *self,
                              GAsyncResult  *result,
                              gboolean       finish_on_owner,
                              GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, test_client_echo_full_async), NULL);

  if (!finish_on_owner)
    {
      g_autoptr(GAsyncResult) inner = syncify_await_full_finish (result, error);

      return inner != NULL ? test_client_echo_finish (self, inner, error) : NULL;
    }
  return syncify_await_full_finish (result, error);
}

typedef struct {
  TestClient *client;
  gboolean    finish_on_owner;
  gboolean    claim;
  char       *value;
  GError     *error;
  gint        done;
} FullData;

static void
full_done (GObject      *source,
           GAsyncResult *result,
           gpointer      data)
{
  FullData *fd = data;

  g_assert_true (g_thread_self () == main_thread);
  g_assert_true (source == G_OBJECT (fd->client));
  g_assert_true (g_async_result_get_source_object (result) == source);
  g_object_unref (source);   /* the reference get_source_object() added */
  g_assert_true (g_task_is_valid (result, fd->client));
  g_assert_true (g_async_result_is_tagged (result, test_client_echo_full_async));
  g_assert_false (g_async_result_is_tagged (result, syncify_context_call_async));
  if (fd->claim)
    fd->value = test_client_echo_full_finish (fd->client, result, fd->finish_on_owner, &fd->error);
  g_atomic_int_set (&fd->done, 1);
}

static void
test_await_full_source_and_tag (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("client");
  g_autoptr(GError) error = NULL;
  g_autoptr(TestClient) client = test_client_new (bg, &error);
  gint n_freed = 0;

  test_watchdog_arm (g_test_get_path ());

  g_assert_no_error (error);
  g_atomic_int_set (&n_full_results_freed, 0);

  for (guint finish_on_owner = 0; finish_on_owner < 2; finish_on_owner++)
    {
      FullData fd = { client, finish_on_owner, TRUE, NULL, NULL, 0 };

      g_atomic_int_set (&n_freed, 0);
      test_client_echo_full_async (client, "full", &n_freed, finish_on_owner, NULL, full_done, &fd);
      test_iterate_until (NULL, &fd.done);
      g_assert_no_error (fd.error);
      g_assert_cmpstr (fd.value, ==, "full");
      g_free (fd.value);
      g_assert_cmpint (g_atomic_int_get (&n_freed), ==, 1);
    }
  /* Claimed results are not freed by result_destroy. */
  g_assert_cmpint (g_atomic_int_get (&n_full_results_freed), ==, 0);

  /* An unclaimed result is freed once, with result_destroy. */
  {
    FullData fd = { client, TRUE, FALSE, NULL, NULL, 0 };

    g_atomic_int_set (&n_freed, 0);
    test_client_echo_full_async (client, "dropped", &n_freed, TRUE, NULL, full_done, &fd);
    test_iterate_until (NULL, &fd.done);
    test_iterate_until (NULL, &n_full_results_freed);
    g_assert_cmpint (g_atomic_int_get (&n_freed), ==, 1);
  }
  /* No late second call of either. */
  for (guint i = 0; i < 5; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpint (g_atomic_int_get (&n_full_results_freed), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&n_freed), ==, 1);
}

static void
test_await_full_cancel (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("client");
  g_autoptr(GError) error = NULL;
  g_autoptr(TestClient) client = NULL;
  gint n_freed = 0;

  test_watchdog_arm (g_test_get_path ());
  client = test_client_new (bg, &error);

  g_assert_no_error (error);
  g_atomic_int_set (&n_full_results_freed, 0);

  /* Cancelled while running on the client's thread. */
  for (guint finish_on_owner = 0; finish_on_owner < 2; finish_on_owner++)
    {
      FullData fd = { client, finish_on_owner, TRUE, NULL, NULL, 0 };
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      guint n_before = GPOINTER_TO_UINT (syncify_context_invoke_sync (bg, count_calls, client, NULL, NULL));

      g_atomic_int_set (&n_freed, 0);
      test_client_echo_full_async (client, NULL, &n_freed, finish_on_owner, cancellable, full_done, &fd);
      test_watchdog_arm ("the operation to start");
      while (GPOINTER_TO_UINT (syncify_context_invoke_sync (bg, count_calls, client, NULL, NULL)) == n_before)
        g_thread_yield ();
      g_assert_cmpint (g_atomic_int_get (&fd.done), ==, 0);
      g_cancellable_cancel (cancellable);
      test_iterate_until (NULL, &fd.done);
      g_assert_error (fd.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_null (fd.value);
      g_clear_error (&fd.error);
      g_assert_cmpint (g_atomic_int_get (&n_freed), ==, 1);
    }

  /* Cancelled before it was called: nothing starts. */
  {
    FullData fd = { client, TRUE, TRUE, NULL, NULL, 0 };
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    guint n_before = GPOINTER_TO_UINT (syncify_context_invoke_sync (bg, count_calls, client, NULL, NULL));

    g_cancellable_cancel (cancellable);
    g_atomic_int_set (&n_freed, 0);
    test_client_echo_full_async (client, "never", &n_freed, TRUE, cancellable, full_done, &fd);
    test_iterate_until (NULL, &fd.done);
    g_assert_error (fd.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error (&fd.error);
    g_assert_cmpint (g_atomic_int_get (&n_freed), ==, 1);
    g_assert_cmpuint (GPOINTER_TO_UINT (syncify_context_invoke_sync (bg, count_calls, client, NULL, NULL)),
                      ==, n_before);
  }

  /* On a closed context: SYNCIFY_ERROR_CLOSED, with the same source and tag. */
  {
    FullData fd = { client, TRUE, TRUE, NULL, NULL, 0 };

    syncify_context_shutdown (bg);
    g_atomic_int_set (&n_freed, 0);
    test_client_echo_full_async (client, "closed", &n_freed, TRUE, NULL, full_done, &fd);
    test_iterate_until (NULL, &fd.done);
    g_assert_error (fd.error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
    g_clear_error (&fd.error);
    g_assert_cmpint (g_atomic_int_get (&n_freed), ==, 1);
  }
  g_assert_cmpint (g_atomic_int_get (&n_full_results_freed), ==, 0);
}

/* A free function: no source object. */
static void
lookup_full_done (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  gint *done = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) inner = NULL;
  g_autofree char *value = NULL;

  g_assert_null (source);
  g_assert_true (g_task_is_valid (result, NULL));
  g_assert_true (g_async_result_is_tagged (result, test_lookup_async));
  inner = syncify_await_full_finish (result, &error);
  g_assert_no_error (error);
  value = test_lookup_finish (inner, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "value-of-k");
  g_atomic_int_set (done, 1);
}

static void
test_await_full_no_source (void)
{
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("client");
  LookupArgs args = { "k" };
  gint done = 0;

  test_watchdog_arm (g_test_get_path ());

  syncify_await_full_async (bg, NULL, test_lookup_async, lookup_start, NULL,
                                    &args, NULL, NULL, NULL, lookup_full_done, &done);
  test_iterate_until (NULL, &done);
}

int
main (int   argc,
      char *argv[])
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  g_test_add_func ("/syncify/await/forms", test_await_forms);
  g_test_add_func ("/syncify/await/cancel-both-ways", test_await_cancel_both_ways);
  g_test_add_func ("/syncify/await/own-thread", test_await_on_own_thread);
  g_test_add_func ("/syncify/await/full/source-and-tag", test_await_full_source_and_tag);
  g_test_add_func ("/syncify/await/full/cancel", test_await_full_cancel);
  g_test_add_func ("/syncify/await/full/no-source", test_await_full_no_source);
  g_test_add_func ("/syncify/iterator/directory", test_iterator_directory);

  return g_test_run ();
}
