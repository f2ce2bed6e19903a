/* test-context.c: SyncifyContext construction, accessors, properties,
 * shutdown and finalization
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <syncify-glib/syncify-glib.h>

#include "test-util.h"

static GThread *main_thread;

/* ------------------------------------------------------------------------ *
 * Helpers
 * ------------------------------------------------------------------------ */

typedef struct {
  gint done;   /* (atomic) */
  GObject *source_object;
  GAsyncResult *result;
} AsyncWait;

static void
async_wait_cb (GObject      *source_object,
               GAsyncResult *result,
               gpointer      data)
{
  AsyncWait *w = data;

  g_assert_true (g_thread_self () == main_thread);
  w->source_object = source_object != NULL ? g_object_ref (source_object) : NULL;
  w->result = g_object_ref (result);
  g_atomic_int_set (&w->done, 1);
}

static void
async_wait_clear (AsyncWait *w)
{
  g_clear_object (&w->source_object);
  g_clear_object (&w->result);
}

/* Runs @func through asyncify on @context from the main thread and returns
 * what it returned, asserting it did not fail. */
static gpointer
run_asyncify (SyncifyContext    *context,
              SyncifyThreadFunc  func,
              gpointer           user_data)
{
  AsyncWait w = { 0, };
  g_autoptr(GError) error = NULL;
  gpointer ret;

  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, func, user_data,
                            NULL, NULL, NULL, async_wait_cb, &w);
  test_iterate_until (NULL, &w.done);
  g_assert_true (w.source_object == G_OBJECT (context));
  ret = syncify_context_asyncify_finish (context, w.result, &error);
  g_assert_no_error (error);
  async_wait_clear (&w);

  return ret;
}

/* ------------------------------------------------------------------------ *
 * Construction
 * ------------------------------------------------------------------------ */

static void
test_new_thread_default (void)
{
  g_autoptr(SyncifyContext) context = NULL;

  test_watchdog_arm (g_test_get_path ());

  /* No thread-default pushed on the main thread: the global default. */
  context = syncify_context_new (NULL);
  g_assert_true (SYNCIFY_IS_CONTEXT (context));
  g_assert_true (syncify_context_get_main_context (context) == g_main_context_default ());
  g_assert_null (syncify_context_get_name (context));
  g_assert_false (syncify_context_is_closed (context));
  g_assert_cmpuint (syncify_context_get_max_workers (context), ==, 0);
  /* A new object each time, unlike get_default(). */
  g_assert_true (context != syncify_context_get_default ());

  g_assert_finalize_object (g_steal_pointer (&context));

  /* A pushed thread-default on the main thread. */
  {
    g_autoptr(GMainContext) mc = g_main_context_new ();

    g_main_context_push_thread_default (mc);
    context = syncify_context_new (NULL);
    g_main_context_pop_thread_default (mc);
    g_assert_true (syncify_context_get_main_context (context) == mc);
    g_assert_finalize_object (g_steal_pointer (&context));
  }
}

typedef struct {
  GMainContext   *pushed;        /* (nullable): pushed by the thread */
  SyncifyContext *context;       /* (owned) out */
  GMainContext   *thread_default;/* out: the thread-default while constructing */
} NewOnThread;

static gpointer
new_on_thread_func (gpointer data)
{
  NewOnThread *d = data;

  if (d->pushed != NULL)
    g_main_context_push_thread_default (d->pushed);
  d->thread_default = g_main_context_get_thread_default ();
  d->context = syncify_context_new (NULL);
  if (d->pushed != NULL)
    g_main_context_pop_thread_default (d->pushed);

  return NULL;
}

static void
test_new_thread_default_other_thread (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  NewOnThread with = { mc, NULL, NULL };
  NewOnThread without = { NULL, NULL, NULL };

  test_watchdog_arm (g_test_get_path ());

  g_thread_join (g_thread_new ("new-with-pushed", new_on_thread_func, &with));
  g_assert_true (with.thread_default == mc);
  g_assert_true (syncify_context_get_main_context (with.context) == mc);
  /* The context keeps its main context alive past the pop. */
  g_assert_cmpuint (G_OBJECT (with.context)->ref_count, ==, 1);
  g_assert_finalize_object (with.context);

  g_thread_join (g_thread_new ("new-without", new_on_thread_func, &without));
  g_assert_null (without.thread_default);
  g_assert_true (syncify_context_get_main_context (without.context) == g_main_context_default ());
  g_assert_finalize_object (without.context);
}

static void
test_new_with_context (void)
{
  GMainContext *mc = g_main_context_new ();
  SyncifyContext *context;
  GMainContext *prop = NULL;

  test_watchdog_arm (g_test_get_path ());

  context = syncify_context_new (mc);
  g_assert_true (syncify_context_get_main_context (context) == mc);
  g_object_get (context, "main-context", &prop, NULL);
  g_assert_true (prop == mc);
  g_main_context_unref (prop);

  /* The context holds its own reference: dropping ours leaves it usable. */
  g_main_context_unref (mc);
  g_assert_true (syncify_context_get_main_context (context) == mc);

  /* The wrapped context is not the thread-default one, nor the global one. */
  g_assert_true (mc != g_main_context_default ());

  g_assert_finalize_object (context);
}

static gpointer
thread_identity_func (gpointer      user_data,
                      GCancellable *cancellable,
                      GError      **error)
{
  GMainContext *expected = user_data;

  /* Runs on the background thread, inside its loop. */
  g_assert_true (g_thread_self () != main_thread);
  g_assert_true (g_main_context_is_owner (expected));
  g_assert_true (g_main_context_get_thread_default () == expected);
  /* That thread is no asyncify worker. */
  g_assert_null (syncify_context_get_current ());

  return g_thread_ref (g_thread_self ());
}

#ifdef __GLIBC__
#include <pthread.h>

static gpointer
thread_name_func (gpointer      user_data,
                  GCancellable *cancellable,
                  GError      **error)
{
  char buf[64] = { 0, };

  g_assert_cmpint (pthread_getname_np (pthread_self (), buf, sizeof buf), ==, 0);
  return g_strdup (buf);
}
#endif

static void
test_new_thread (void)
{
  g_autoptr(SyncifyContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  GMainContext *mc = NULL;
  gboolean background = FALSE;
  GThread *thread;

  test_watchdog_arm (g_test_get_path ());

  context = syncify_context_new_thread ("ctx-test-bg");
  g_assert_true (SYNCIFY_IS_CONTEXT (context));
  g_assert_cmpstr (syncify_context_get_name (context), ==, "ctx-test-bg");
  g_assert_false (syncify_context_is_closed (context));

  g_object_get (context,
                "name", &name,
                "main-context", &mc,
                "background", &background,
                NULL);
  g_assert_cmpstr (name, ==, "ctx-test-bg");
  g_assert_true (background);
  /* A new main context: neither the global default nor the caller's. */
  g_assert_nonnull (mc);
  g_assert_true (mc == syncify_context_get_main_context (context));
  g_assert_true (mc != g_main_context_default ());
  g_assert_true (mc != g_main_context_get_thread_default ());
  /* Run by its own thread, not by us. */
  g_assert_false (g_main_context_is_owner (mc));

  thread = syncify_context_invoke_sync (context, thread_identity_func, mc, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (thread);
  g_assert_true (thread != main_thread);
  g_thread_unref (thread);

#ifdef __GLIBC__
  {
    g_autofree char *os_name = syncify_context_invoke_sync (context, thread_name_func,
                                                            NULL, NULL, &error);
    g_assert_no_error (error);
    /* Linux truncates thread names to 15 bytes. */
    g_assert_cmpstr (os_name, ==, "ctx-test-bg");
  }
#endif

  g_main_context_unref (mc);
  g_assert_finalize_object (g_steal_pointer (&context));

  /* Two background contexts have distinct main contexts and threads. */
  {
    g_autoptr(SyncifyContext) a = syncify_context_new_thread ("ctx-a");
    g_autoptr(SyncifyContext) b = syncify_context_new_thread ("ctx-b");
    GThread *ta, *tb;

    g_assert_true (syncify_context_get_main_context (a) != syncify_context_get_main_context (b));
    ta = syncify_context_invoke_sync (a, thread_identity_func,
                                      syncify_context_get_main_context (a), NULL, &error);
    g_assert_no_error (error);
    tb = syncify_context_invoke_sync (b, thread_identity_func,
                                      syncify_context_get_main_context (b), NULL, &error);
    g_assert_no_error (error);
    g_assert_true (ta != tb);
    g_thread_unref (ta);
    g_thread_unref (tb);
  }
}

static void
test_new_thread_default_name (void)
{
  g_autoptr(SyncifyContext) context = NULL;
  gboolean background = FALSE;

  test_watchdog_arm (g_test_get_path ());

  /* Documented: a NULL name means "syncify". */
  context = syncify_context_new_thread (NULL);
  g_assert_cmpstr (syncify_context_get_name (context), ==, "syncify");
  g_object_get (context, "background", &background, NULL);
  g_assert_true (background);
  g_assert_finalize_object (g_steal_pointer (&context));
}

/* ------------------------------------------------------------------------ *
 * get_default / get_current
 * ------------------------------------------------------------------------ */

static gpointer
get_default_thread_func (gpointer data)
{
  return syncify_context_get_default ();
}

static void
test_get_default (void)
{
  SyncifyContext *def = syncify_context_get_default ();
  guint refs;
  gboolean background = TRUE;

  test_watchdog_arm (g_test_get_path ());

  g_assert_true (SYNCIFY_IS_CONTEXT (def));
  g_assert_true (syncify_context_get_main_context (def) == g_main_context_default ());
  g_assert_false (syncify_context_is_closed (def));
  g_object_get (def, "background", &background, NULL);
  g_assert_false (background);

  /* A singleton, returned in transfer none. */
  refs = G_OBJECT (def)->ref_count;
  g_assert_true (syncify_context_get_default () == def);
  g_assert_true (syncify_context_get_default () == def);
  g_assert_cmpuint (G_OBJECT (def)->ref_count, ==, refs);

  /* The same from any thread, even one with its own thread-default. */
  g_assert_true (g_thread_join (g_thread_new ("get-default", get_default_thread_func, NULL)) == def);
  {
    g_autoptr(GMainContext) mc = g_main_context_new ();

    g_main_context_push_thread_default (mc);
    g_assert_true (syncify_context_get_default () == def);
    g_assert_true (syncify_context_get_main_context (def) == g_main_context_default ());
    g_main_context_pop_thread_default (mc);
  }
}

typedef struct {
  SyncifyContext *expected;
  gint            ran;      /* (atomic) */
} CurrentData;

static gpointer
current_func (gpointer      user_data,
              GCancellable *cancellable,
              GError      **error)
{
  CurrentData *d = user_data;

  g_assert_true (g_thread_self () != main_thread);
  g_assert_true (syncify_context_get_current () == d->expected);
  g_atomic_int_inc (&d->ran);

  return syncify_context_get_current ();
}

static gpointer
plain_thread_get_current (gpointer data)
{
  return syncify_context_get_current ();
}

static void
test_get_current (void)
{
  g_autoptr(SyncifyContext) a = syncify_context_new (NULL);
  g_autoptr(SyncifyContext) b = syncify_context_new (NULL);
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("ctx-current-bg");
  CurrentData da = { a, 0 }, db = { b, 0 }, dbg = { bg, 0 };

  test_watchdog_arm (g_test_get_path ());

  /* Not in a worker. */
  g_assert_null (syncify_context_get_current ());
  g_assert_null (g_thread_join (g_thread_new ("plain", plain_thread_get_current, NULL)));

  /* In a worker: the context it was asyncified on, whichever pool thread
   * runs it, several times over so pool threads are reused across contexts. */
  for (guint i = 0; i < 5; i++)
    {
      g_assert_true (run_asyncify (a, current_func, &da) == a);
      g_assert_true (run_asyncify (b, current_func, &db) == b);
      g_assert_true (run_asyncify (syncify_context_get_default (), current_func,
                                   &(CurrentData) { syncify_context_get_default (), 0 })
                     == syncify_context_get_default ());
    }
  g_assert_cmpint (da.ran, ==, 5);
  g_assert_cmpint (db.ran, ==, 5);

  /* The workers of a background context belong to it, too. */
  g_assert_true (run_asyncify (bg, current_func, &dbg) == bg);
  g_assert_cmpint (dbg.ran, ==, 1);

  /* And the caller's thread still is no worker. */
  g_assert_null (syncify_context_get_current ());
}

/* ------------------------------------------------------------------------ *
 * Properties
 * ------------------------------------------------------------------------ */

static void
test_properties (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  g_autoptr(SyncifyContext) context = NULL;
  GMainContext *got_mc = NULL;
  g_autofree char *name = NULL;
  guint max_workers = 99;
  gboolean background = TRUE;

  test_watchdog_arm (g_test_get_path ());

  context = g_object_new (SYNCIFY_TYPE_CONTEXT,
                          "main-context", mc,
                          "name", "props",
                          "max-workers", 4,
                          NULL);
  g_object_get (context,
                "main-context", &got_mc,
                "name", &name,
                "max-workers", &max_workers,
                "background", &background,
                NULL);
  g_assert_true (got_mc == mc);
  g_main_context_unref (got_mc);
  g_assert_cmpstr (name, ==, "props");
  g_assert_cmpstr (syncify_context_get_name (context), ==, "props");
  g_assert_cmpuint (max_workers, ==, 4);
  g_assert_cmpuint (syncify_context_get_max_workers (context), ==, 4);
  g_assert_false (background);

  /* Construct-only properties are read-only afterwards; max-workers is not. */
  {
    GParamSpec *pspec;

    pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (context), "main-context");
    g_assert_nonnull (pspec);
    g_assert_true (pspec->flags & G_PARAM_CONSTRUCT_ONLY);
    g_assert_true (G_PARAM_SPEC_VALUE_TYPE (pspec) == G_TYPE_MAIN_CONTEXT);
    pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (context), "name");
    g_assert_nonnull (pspec);
    g_assert_true (pspec->flags & G_PARAM_CONSTRUCT_ONLY);
    pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (context), "background");
    g_assert_nonnull (pspec);
    g_assert_true (pspec->flags & G_PARAM_CONSTRUCT_ONLY);
    pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (context), "max-workers");
    g_assert_nonnull (pspec);
    g_assert_false (pspec->flags & G_PARAM_CONSTRUCT_ONLY);
    g_assert_true (pspec->flags & G_PARAM_WRITABLE);
    g_assert_true (pspec->flags & G_PARAM_EXPLICIT_NOTIFY);
    g_assert_cmpuint (G_PARAM_SPEC_UINT (pspec)->default_value, ==, 0);
  }
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    data)
{
  guint *count = data;

  g_assert_cmpstr (pspec->name, ==, "max-workers");
  (*count)++;
}

static void
test_max_workers (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  guint notifies = 0;
  guint value = 0;

  test_watchdog_arm (g_test_get_path ());

  g_signal_connect (context, "notify::max-workers", G_CALLBACK (count_notify), &notifies);

  g_assert_cmpuint (syncify_context_get_max_workers (context), ==, 0);

  syncify_context_set_max_workers (context, 3);
  g_assert_cmpuint (syncify_context_get_max_workers (context), ==, 3);
  g_assert_cmpuint (notifies, ==, 1);

  /* The same value: no notification, through either path. */
  syncify_context_set_max_workers (context, 3);
  g_assert_cmpuint (notifies, ==, 1);
  g_object_set (context, "max-workers", 3, NULL);
  g_assert_cmpuint (notifies, ==, 1);

  /* Through the property: once per change. */
  g_object_set (context, "max-workers", 7, NULL);
  g_assert_cmpuint (notifies, ==, 2);
  g_object_get (context, "max-workers", &value, NULL);
  g_assert_cmpuint (value, ==, 7);
  g_assert_cmpuint (syncify_context_get_max_workers (context), ==, 7);

  /* Back to the default. */
  syncify_context_set_max_workers (context, 0);
  g_assert_cmpuint (notifies, ==, 3);
  g_assert_cmpuint (syncify_context_get_max_workers (context), ==, 0);
  syncify_context_set_max_workers (context, 0);
  g_assert_cmpuint (notifies, ==, 3);

  /* Independent per context. */
  {
    g_autoptr(SyncifyContext) other = syncify_context_new (NULL);

    syncify_context_set_max_workers (other, 2);
    g_assert_cmpuint (syncify_context_get_max_workers (other), ==, 2);
    g_assert_cmpuint (syncify_context_get_max_workers (context), ==, 0);
    g_assert_cmpuint (notifies, ==, 3);
  }

  /* A background context has the same property. */
  {
    g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("ctx-maxw-bg");
    guint bg_notifies = 0;

    g_signal_connect (bg, "notify::max-workers", G_CALLBACK (count_notify), &bg_notifies);
    syncify_context_set_max_workers (bg, 1);
    syncify_context_set_max_workers (bg, 1);
    g_assert_cmpuint (bg_notifies, ==, 1);
    g_assert_cmpuint (syncify_context_get_max_workers (bg), ==, 1);
  }
}

/* ------------------------------------------------------------------------ *
 * Shutdown and finalization
 * ------------------------------------------------------------------------ */

static gpointer
return_42_func (gpointer      user_data,
                GCancellable *cancellable,
                GError      **error)
{
  return GINT_TO_POINTER (42);
}

static void
test_shutdown (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new (NULL);
  g_autoptr(SyncifyContext) bg = syncify_context_new_thread ("ctx-shutdown-bg");
  g_autoptr(GError) error = NULL;
  gpointer ret;

  test_watchdog_arm (g_test_get_path ());

  g_assert_false (syncify_context_is_closed (context));
  syncify_context_shutdown (context);
  g_assert_true (syncify_context_is_closed (context));
  /* Idempotent. */
  syncify_context_shutdown (context);
  syncify_context_shutdown (context);
  g_assert_true (syncify_context_is_closed (context));
  /* The accessors still work on a closed context. */
  g_assert_true (syncify_context_get_main_context (context) == g_main_context_default ());

  /* The background one: works before, refuses after, twice is harmless. */
  ret = syncify_context_invoke_sync (bg, return_42_func, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (GPOINTER_TO_INT (ret), ==, 42);

  g_assert_false (syncify_context_is_closed (bg));
  syncify_context_shutdown (bg);
  g_assert_true (syncify_context_is_closed (bg));
  syncify_context_shutdown (bg);
  g_assert_true (syncify_context_is_closed (bg));

  ret = syncify_context_invoke_sync (bg, return_42_func, NULL, NULL, &error);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
  g_assert_null (ret);

  /* Shutting one context down leaves the others alone. */
  g_assert_false (syncify_context_is_closed (syncify_context_get_default ()));
}

static void
test_finalize_plain (void)
{
  SyncifyContext *context;
  g_autoptr(GMainContext) mc = g_main_context_new ();

  test_watchdog_arm (g_test_get_path ());

  /* Never used. */
  g_assert_finalize_object (syncify_context_new (NULL));
  g_assert_finalize_object (syncify_context_new (mc));

  /* After a job: the job holds no reference once its callback ran. */
  context = syncify_context_new (NULL);
  g_assert_cmpint (GPOINTER_TO_INT (run_asyncify (context, return_42_func, NULL)), ==, 42);
  /* The completion machinery may drop its references in later dispatches. */
  while (g_main_context_iteration (NULL, FALSE));
  g_assert_finalize_object (context);

  /* After an explicit shutdown. */
  context = syncify_context_new (mc);
  syncify_context_shutdown (context);
  g_assert_finalize_object (context);
}

/* The background thread's exit is observed through a thread-local value
 * whose destroy notify runs as the thread exits, before it can be joined. */
static gint bg_thread_exited;   /* (atomic) */

static void
bg_private_destroy (gpointer data)
{
  g_assert_true (data == &bg_thread_exited);
  g_atomic_int_inc (&bg_thread_exited);
}

static GPrivate bg_private = G_PRIVATE_INIT (bg_private_destroy);

static gpointer
mark_thread_func (gpointer      user_data,
                  GCancellable *cancellable,
                  GError      **error)
{
  g_assert_true (g_thread_self () != main_thread);
  g_private_set (&bg_private, &bg_thread_exited);
  return NULL;
}

static gpointer
unref_thread_func (gpointer data)
{
  g_object_unref (data);
  return NULL;
}

static void
test_finalize_background (void)
{
  g_autoptr(GError) error = NULL;
  SyncifyContext *context;
  gpointer ret;

  test_watchdog_arm (g_test_get_path ());

  /* Never used. */
  g_assert_finalize_object (syncify_context_new_thread ("ctx-fin-unused"));

  /* The last unref shuts down and joins the thread: by the time it
   * returns, the thread has exited. */
  g_atomic_int_set (&bg_thread_exited, 0);
  context = syncify_context_new_thread ("ctx-fin-bg");
  ret = syncify_context_invoke_sync (context, mark_thread_func, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (ret);
  g_assert_cmpint (g_atomic_int_get (&bg_thread_exited), ==, 0);
  g_assert_finalize_object (context);
  g_assert_cmpint (g_atomic_int_get (&bg_thread_exited), ==, 1);

  /* An explicit shutdown joins too, before the object goes away; it then
   * refuses work, and is finalized cleanly afterwards. */
  g_atomic_int_set (&bg_thread_exited, 0);
  context = syncify_context_new_thread ("ctx-fin-bg2");
  ret = syncify_context_invoke_sync (context, mark_thread_func, NULL, NULL, &error);
  g_assert_no_error (error);
  syncify_context_shutdown (context);
  g_assert_cmpint (g_atomic_int_get (&bg_thread_exited), ==, 1);
  ret = syncify_context_invoke_sync (context, mark_thread_func, NULL, NULL, &error);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
  g_assert_null (ret);
  g_clear_error (&error);
  g_assert_finalize_object (context);
  g_assert_cmpint (g_atomic_int_get (&bg_thread_exited), ==, 1);

  /* Dropped from another thread than the one that made it. */
  g_atomic_int_set (&bg_thread_exited, 0);
  context = syncify_context_new_thread ("ctx-fin-bg3");
  ret = syncify_context_invoke_sync (context, mark_thread_func, NULL, NULL, &error);
  g_assert_no_error (error);
  {
    GWeakRef weak;

    g_weak_ref_init (&weak, context);
    g_thread_join (g_thread_new ("unref", unref_thread_func, context));
    g_assert_null (g_weak_ref_get (&weak));
    g_weak_ref_clear (&weak);
  }
  g_assert_cmpint (g_atomic_int_get (&bg_thread_exited), ==, 1);
}

/* ------------------------------------------------------------------------ *
 * Version, enums, error domain
 * ------------------------------------------------------------------------ */

static void
test_version (void)
{
  g_autofree char *s = NULL;

  g_assert_cmpuint (syncify_get_major_version (), ==, SYNCIFY_MAJOR_VERSION);
  g_assert_cmpuint (syncify_get_minor_version (), ==, SYNCIFY_MINOR_VERSION);
  g_assert_cmpuint (syncify_get_micro_version (), ==, SYNCIFY_MICRO_VERSION);

  s = g_strdup_printf ("%d.%d.%d", SYNCIFY_MAJOR_VERSION, SYNCIFY_MINOR_VERSION,
                       SYNCIFY_MICRO_VERSION);
  g_assert_cmpstr (s, ==, SYNCIFY_VERSION_S);

  g_assert_true (SYNCIFY_CHECK_VERSION (SYNCIFY_MAJOR_VERSION, SYNCIFY_MINOR_VERSION,
                                        SYNCIFY_MICRO_VERSION));
  g_assert_true (SYNCIFY_CHECK_VERSION (1, 0, 0));
  g_assert_false (SYNCIFY_CHECK_VERSION (SYNCIFY_MAJOR_VERSION + 1, 0, 0));
  g_assert_false (SYNCIFY_CHECK_VERSION (SYNCIFY_MAJOR_VERSION, SYNCIFY_MINOR_VERSION,
                                         SYNCIFY_MICRO_VERSION + 1));
}

static void
test_enum_types (void)
{
  g_autoptr(GFlagsClass) flags_class = NULL;
  g_autoptr(GEnumClass) enum_class = NULL;
  GFlagsValue *fv;
  GEnumValue *ev;

  test_watchdog_arm (g_test_get_path ());

  g_assert_true (SYNCIFY_TYPE_FLAGS == syncify_flags_get_type ());
  g_assert_true (G_TYPE_IS_FLAGS (SYNCIFY_TYPE_FLAGS));
  g_assert_cmpstr (g_type_name (SYNCIFY_TYPE_FLAGS), ==, "SyncifyFlags");

  flags_class = g_type_class_ref (SYNCIFY_TYPE_FLAGS);
  fv = g_flags_get_value_by_nick (flags_class, "allow-private-context");
  g_assert_nonnull (fv);
  g_assert_cmpuint (fv->value, ==, SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT);
  fv = g_flags_get_value_by_nick (flags_class, "abandon-on-cancel");
  g_assert_nonnull (fv);
  g_assert_cmpuint (fv->value, ==, SYNCIFY_FLAGS_ABANDON_ON_CANCEL);
  fv = g_flags_get_first_value (flags_class, SYNCIFY_FLAGS_ABANDON_ON_CANCEL);
  g_assert_cmpstr (fv->value_name, ==, "SYNCIFY_FLAGS_ABANDON_ON_CANCEL");

  g_assert_true (SYNCIFY_TYPE_ERROR == syncify_error_get_type ());
  g_assert_true (G_TYPE_IS_ENUM (SYNCIFY_TYPE_ERROR));
  g_assert_cmpstr (g_type_name (SYNCIFY_TYPE_ERROR), ==, "SyncifyError");

  enum_class = g_type_class_ref (SYNCIFY_TYPE_ERROR);
  g_assert_cmpuint (enum_class->n_values, ==, 3);
  ev = g_enum_get_value (enum_class, SYNCIFY_ERROR_NOT_IN_WORKER);
  g_assert_cmpstr (ev->value_nick, ==, "not-in-worker");
  ev = g_enum_get_value (enum_class, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_assert_cmpstr (ev->value_nick, ==, "would-deadlock");
  ev = g_enum_get_value (enum_class, SYNCIFY_ERROR_CLOSED);
  g_assert_cmpstr (ev->value_nick, ==, "closed");
  /* The three codes are distinct. */
  g_assert_cmpint (SYNCIFY_ERROR_NOT_IN_WORKER, !=, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_assert_cmpint (SYNCIFY_ERROR_WOULD_DEADLOCK, !=, SYNCIFY_ERROR_CLOSED);
}

static void
test_error_quark (void)
{
  g_autoptr(GError) error = NULL;

  test_watchdog_arm (g_test_get_path ());

  g_assert_cmpuint (SYNCIFY_ERROR, !=, 0);
  g_assert_cmpuint (SYNCIFY_ERROR, ==, syncify_error_quark ());
  g_assert_cmpstr (g_quark_to_string (SYNCIFY_ERROR), ==, "syncify-error-quark");

  error = g_error_new_literal (SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED, "x");
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);
  main_thread = g_thread_self ();

  g_test_add_func ("/syncify/context/new/null", test_new_thread_default);
  g_test_add_func ("/syncify/context/new/null-other-thread", test_new_thread_default_other_thread);
  g_test_add_func ("/syncify/context/new/main-context", test_new_with_context);
  g_test_add_func ("/syncify/context/new-thread/basics", test_new_thread);
  g_test_add_func ("/syncify/context/new-thread/default-name", test_new_thread_default_name);
  g_test_add_func ("/syncify/context/get-default", test_get_default);
  g_test_add_func ("/syncify/context/get-current", test_get_current);
  g_test_add_func ("/syncify/context/properties", test_properties);
  g_test_add_func ("/syncify/context/max-workers", test_max_workers);
  g_test_add_func ("/syncify/context/shutdown", test_shutdown);
  g_test_add_func ("/syncify/context/finalize/plain", test_finalize_plain);
  g_test_add_func ("/syncify/context/finalize/background", test_finalize_background);
  g_test_add_func ("/syncify/context/version", test_version);
  g_test_add_func ("/syncify/context/enum-types", test_enum_types);
  g_test_add_func ("/syncify/context/error-quark", test_error_quark);

  return g_test_run ();
}
