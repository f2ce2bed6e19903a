/* i18n-check.c: runtime errors come back translated
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Runs with the German catalogue built from po/de.po, without installing it:
 * the build tree holds it as <builddir>/po/de/LC_MESSAGES/syncify-glib-1.mo,
 * and this program binds the library's domain to <builddir>/po after the
 * library has bound it itself. Every expected message below is the literal
 * German text of po/de.po, so the test fails if a message is not looked up
 * in the library's domain, if the catalogue is not found, or if a
 * translation goes missing.
 */

#include <libintl.h>
#include <locale.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "test-util.h"

/* The library's gettext domain (tests/meson.build passes it). */
#define DOMAIN SYNCIFY_TEST_DOMAIN

static GThread *main_thread;

/* ------------------------------------------------------------------------ *
 * Set-up
 * ------------------------------------------------------------------------ */

static const char *
locale_builddir (void)
{
  const char *dir = g_getenv ("SYNCIFY_TEST_LOCALEDIR");

#ifdef SYNCIFY_TEST_LOCALEDIR
  if (dir == NULL)
    dir = SYNCIFY_TEST_LOCALEDIR;
#endif

  return dir;
}

/* German messages need a locale whose name is not "C": glibc ignores
 * LANGUAGE in the "C" and "POSIX" locales, and glibc >= 2.35 (Debian 13)
 * also in "C.UTF-8", the only UTF-8 locale a minimal system has. So the test
 * makes its own: a private LOCPATH where "de_DE.UTF-8" is the C.UTF-8 locale
 * data under a German name. gettext then finds the "de" catalogue from
 * LC_MESSAGES, and LANGUAGE=de stays set for systems where that locale could
 * not be made (then C.UTF-8 is used, which works up to glibc 2.34). */
#define GERMAN_LOCALE "de_DE.UTF-8"

static char *locale_tmpdir;   /* (owned) (nullable) */
static char *locale_link;     /* (owned) (nullable) */

static const char *
setup_german (void)
{
  static const char * const c_utf8_dirs[] = {
    "/usr/lib/locale/C.utf8",
    "/usr/lib/locale/C.UTF-8",
  };
  g_autoptr(GError) error = NULL;

  g_setenv ("LANGUAGE", "de", TRUE);
  g_unsetenv ("LC_MESSAGES");
  g_unsetenv ("LANG");

  locale_tmpdir = g_dir_make_tmp ("syncify-i18n-XXXXXX", &error);
  g_assert_no_error (error);
  locale_link = g_build_filename (locale_tmpdir, GERMAN_LOCALE, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (c_utf8_dirs); i++)
    {
      g_autofree char *messages = g_build_filename (c_utf8_dirs[i], "LC_MESSAGES", NULL);

      if (!g_file_test (messages, G_FILE_TEST_IS_DIR) ||
          symlink (c_utf8_dirs[i], locale_link) != 0)
        continue;

      g_setenv ("LOCPATH", locale_tmpdir, TRUE);
      g_setenv ("LC_ALL", GERMAN_LOCALE, TRUE);
      if (setlocale (LC_ALL, "") != NULL)
        return GERMAN_LOCALE;

      g_unlink (locale_link);
    }

  g_unsetenv ("LOCPATH");
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  if (setlocale (LC_ALL, "") == NULL)
    g_error ("Neither a private " GERMAN_LOCALE " nor the C.UTF-8 locale is available");
  return "C.UTF-8";
}

static void
clear_german (void)
{
  if (locale_link != NULL)
    g_unlink (locale_link);
  if (locale_tmpdir != NULL)
    g_rmdir (locale_tmpdir);
  g_clear_pointer (&locale_link, g_free);
  g_clear_pointer (&locale_tmpdir, g_free);
}

/* Called once the library has bound its domain (on the first message it
 * translates), so that this binding is the one that stays. */
static void
bind_build_tree_catalogue (void)
{
  const char *dir = locale_builddir ();
  g_autofree char *mo = NULL;

  g_assert_nonnull (dir);
  mo = g_build_filename (dir, "de", "LC_MESSAGES", DOMAIN ".mo", NULL);
  if (!g_file_test (mo, G_FILE_TEST_IS_REGULAR))
    g_error ("The German catalogue %s was not built", mo);

  g_assert_nonnull (bindtextdomain (DOMAIN, dir));
  g_assert_nonnull (bind_textdomain_codeset (DOMAIN, "UTF-8"));
}

/* ------------------------------------------------------------------------ *
 * Helpers
 * ------------------------------------------------------------------------ */

/* A context wrapping a fresh main context, named for deterministic messages. */
static SyncifyContext *
named_context (const char *name)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();

  return g_object_new (SYNCIFY_TYPE_CONTEXT,
                       "main-context", mc,
                       "name", name,
                       NULL);
}

/* ------------------------------------------------------------------------ *
 * Tests
 * ------------------------------------------------------------------------ */

/* The catalogue itself: the library's domain answers in German. */
static void
test_catalogue (void)
{
  g_assert_cmpstr (g_dgettext (DOMAIN, "Operation was cancelled"), ==,
                   "Vorgang wurde abgebrochen");
  /* A literal that is not in the catalogue comes back as is. */
  g_assert_cmpstr (g_dgettext (DOMAIN, "no such message"), ==, "no such message");
}

/* syncify with no context on plain main code, no worker, no flag. */
static void
test_not_in_worker_no_context (void)
{
  g_autoptr(GError) error = NULL;
  gpointer result;

  test_watchdog_arm (g_test_get_path ());

  g_assert_true (g_thread_self () == main_thread);
  g_assert_null (syncify_context_get_current ());

  result = syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE,
                                    test_op_never_start, test_op_never_finish, NULL,
                                    NULL, &error);
  g_assert_null (result);
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  g_assert_cmpstr (error->message, ==,
                   "syncify wurde in Thread \"main\" ohne Kontext und außerhalb "
                   "jedes asyncify-Workers aufgerufen: Kein anderer Thread kann "
                   "den Vorgang ausführen. Übergeben Sie "
                   "SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, um ihn in diesem "
                   "Thread in einem privaten Hauptkontext auszuführen");
}

/* syncify on the owner of the context itself. */
static void
test_not_in_worker_owner (void)
{
  g_autoptr(SyncifyContext) context = named_context ("eigen");
  GMainContext *mc = syncify_context_get_main_context (context);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_main_context_acquire (mc));
  g_assert_null (syncify_context_syncify (context, SYNCIFY_FLAGS_NONE,
                                          test_op_never_start, test_op_never_finish, NULL,
                                          NULL, &error));
  g_main_context_release (mc);

  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  g_assert_cmpstr (error->message, ==,
                   "syncify wurde in Thread \"main\" aufgerufen, der den "
                   "Kontext \"eigen\" selbst iteriert: Hier zu blockieren würde "
                   "ihn anhalten. Übergeben Sie "
                   "SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, um den Vorgang in "
                   "einem privaten Hauptkontext auszuführen, oder rufen Sie "
                   "syncify aus einem Worker auf");
}

/* syncify for a context that no thread iterates. (The default context
 * would be presumed owned by this, the main thread, which wrapped it.) */
static void
test_not_in_worker_unowned (void)
{
  g_autoptr(SyncifyContext) context = named_context ("frei");
  g_autoptr(GError) error = NULL;

  test_watchdog_arm (g_test_get_path ());

  g_assert_false (g_main_context_is_owner (syncify_context_get_main_context (context)));
  g_assert_null (syncify_context_syncify (context, SYNCIFY_FLAGS_NONE,
                                          test_op_never_start, test_op_never_finish, NULL,
                                          NULL, &error));
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  g_assert_cmpstr (error->message, ==,
                   "syncify wurde in Thread \"main\" für den Kontext \"frei\" "
                   "aufgerufen, den kein anderer Thread iteriert. Übergeben Sie "
                   "SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT, um den Vorgang in "
                   "diesem Thread in einem privaten Hauptkontext auszuführen");
}

/* A context that was shut down refuses a blocking call. */
static void
test_closed_blocking (void)
{
  g_autoptr(SyncifyContext) context = syncify_context_new_thread ("zu");
  g_autoptr(GError) error = NULL;

  syncify_context_shutdown (context);
  g_assert_true (syncify_context_is_closed (context));

  g_assert_null (syncify_context_syncify (context, SYNCIFY_FLAGS_NONE,
                                          test_op_never_start, test_op_never_finish, NULL,
                                          NULL, &error));
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
  g_assert_cmpstr (error->message, ==,
                   "Es kann keine Arbeit an den Kontext \"zu\" übergeben "
                   "werden: Er wurde heruntergefahren");
}

typedef struct {
  TestEvent started;
  TestEvent release;
} BlockerData;

static gpointer
blocker_func (gpointer       user_data,
              GCancellable  *cancellable,
              GError       **error)
{
  BlockerData *data = user_data;

  g_assert_true (g_thread_self () != main_thread);
  test_event_set (&data->started);
  test_event_wait (&data->release, "the test to release the blocking job");
  return NULL;
}

static gpointer
func_never (gpointer       user_data,
            GCancellable  *cancellable,
            GError       **error)
{
  g_assert_not_reached ();
  return NULL;
}

typedef struct {
  GError  *error;
  gboolean done;
} Outcome;

static void
asyncify_done_cb (GObject      *source_object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Outcome *outcome = user_data;
  gpointer value;

  g_assert_true (g_thread_self () == main_thread);
  value = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source_object),
                                           result, &outcome->error);
  g_assert_null (value);
  g_atomic_int_set (&outcome->done, TRUE);
}

/* An asyncify job still queued when its context is shut down, and one
 * started on a context already shut down. */
static void
test_closed_asyncify (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  g_autoptr(SyncifyContext) context = NULL;
  BlockerData data;
  Outcome first = { NULL, FALSE };
  Outcome queued = { NULL, FALSE };
  Outcome late = { NULL, FALSE };

  test_watchdog_arm (g_test_get_path ());

  g_main_context_push_thread_default (mc);

  test_event_init (&data.started);
  test_event_init (&data.release);

  context = g_object_new (SYNCIFY_TYPE_CONTEXT,
                          "main-context", mc,
                          "name", "warteschlange",
                          NULL);
  syncify_context_set_max_workers (context, 1);

  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, blocker_func, &data,
                            NULL, NULL, NULL, asyncify_done_cb, &first);
  test_event_wait (&data.started, "the blocking job to start");

  /* max-workers is 1 and the first job holds the slot: this one waits. */
  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, func_never, NULL,
                            NULL, NULL, NULL, asyncify_done_cb, &queued);

  syncify_context_shutdown (context);

  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, func_never, NULL,
                            NULL, NULL, NULL, asyncify_done_cb, &late);

  test_iterate_until (mc, &queued.done);
  test_iterate_until (mc, &late.done);
  g_assert_false (g_atomic_int_get (&first.done));

  test_event_set (&data.release);
  test_iterate_until (mc, &first.done);

  g_assert_no_error (first.error);

  g_assert_error (queued.error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
  g_assert_cmpstr (queued.error->message, ==, "Der Kontext wurde heruntergefahren");

  g_assert_error (late.error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED);
  g_assert_cmpstr (late.error->message, ==,
                   "Es kann keine Arbeit an den Kontext \"warteschlange\" "
                   "übergeben werden: Er wurde heruntergefahren");

  g_clear_error (&queued.error);
  g_clear_error (&late.error);

  g_main_context_pop_thread_default (mc);
  g_assert_finalize_object (g_steal_pointer (&context));

  test_event_clear (&data.started);
  test_event_clear (&data.release);
}

/* A job whose cancellable fired before it started. */
static void
test_cancelled (void)
{
  g_autoptr(GMainContext) mc = g_main_context_new ();
  g_autoptr(SyncifyContext) context = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Outcome outcome = { NULL, FALSE };

  g_main_context_push_thread_default (mc);
  context = syncify_context_new (mc);

  g_cancellable_cancel (cancellable);
  syncify_context_asyncify (context, SYNCIFY_FLAGS_NONE, func_never, NULL,
                            NULL, NULL, cancellable, asyncify_done_cb, &outcome);
  test_iterate_until (mc, &outcome.done);

  g_assert_error (outcome.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpstr (outcome.error->message, ==, "Vorgang wurde abgebrochen");
  g_clear_error (&outcome.error);

  g_main_context_pop_thread_default (mc);
}

typedef struct {
  SyncifyContext *owned;   /* owned by the main thread during the call */
  GThread        *ran_on;
  GError         *error;
} DeadlockData;

static gpointer
push_back_func (gpointer       user_data,
                GCancellable  *cancellable,
                GError       **error)
{
  DeadlockData *data = user_data;

  data->ran_on = g_thread_self ();
  /* The main thread owns data->owned and is blocked waiting on us. */
  g_assert_null (syncify_context_invoke_sync (data->owned, func_never, NULL,
                                              NULL, &data->error));
  return NULL;
}

/* The deadlock message is assembled from several translated pieces. */
static void
test_would_deadlock (void)
{
  g_autoptr(SyncifyContext) owned = named_context ("besitz");
  g_autoptr(SyncifyContext) background = syncify_context_new_thread ("hinten");
  GMainContext *mc = syncify_context_get_main_context (owned);
  DeadlockData data = { owned, NULL, NULL };
  g_autoptr(GError) error = NULL;

  test_watchdog_arm (g_test_get_path ());

  g_assert_true (g_main_context_acquire (mc));
  g_assert_null (syncify_context_invoke_sync (background, push_back_func, &data,
                                              NULL, &error));
  g_main_context_release (mc);
  g_assert_no_error (error);

  g_assert_nonnull (data.ran_on);
  g_assert_true (data.ran_on != main_thread);
  g_assert_error (data.error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_assert_cmpstr (data.error->message, ==,
                   "Warten würde zu einem Deadlock führen: "
                   "Thread \"hinten\" wartet auf den Kontext \"besitz\", der dem "
                   "Thread \"main\" gehört; dieser wartet auf den Kontext "
                   "\"hinten\", der dem Thread \"hinten\" gehört");
  g_clear_error (&data.error);
}

/* An iterator made by g_object_new() (as a binding's Syncify.Iterator()
 * does) has no source: a translated error, not a critical. */
static void
test_iterator_no_source (void)
{
  g_autoptr(SyncifyIterator) it = g_object_new (SYNCIFY_TYPE_ITERATOR, NULL);
  g_autoptr(GError) error = NULL;

  test_watchdog_arm (g_test_get_path ());

  g_assert_null (syncify_iterator_next_object (it, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED);
  g_assert_cmpstr (error->message, ==, "Der Iterator wurde ohne Quelle erzeugt");
}

int
main (int    argc,
      char **argv)
{
  const char *locale_name;
  int status;

  locale_name = setup_german ();

  test_init (&argc, &argv);
  main_thread = g_thread_self ();
  g_test_message ("locale %s, LANGUAGE=de", locale_name);

  /* Let the library bind its domain first (it does on the first message
   * it translates), then point it at the build tree. */
  {
    g_autoptr(GError) error = NULL;

    g_assert_null (syncify_context_syncify (NULL, SYNCIFY_FLAGS_NONE,
                                            test_op_never_start, test_op_never_finish,
                                            NULL, NULL, &error));
    g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_NOT_IN_WORKER);
  }
  bind_build_tree_catalogue ();

  g_test_add_func ("/syncify/i18n/catalogue", test_catalogue);
  g_test_add_func ("/syncify/i18n/not-in-worker/no-context", test_not_in_worker_no_context);
  g_test_add_func ("/syncify/i18n/not-in-worker/owner", test_not_in_worker_owner);
  g_test_add_func ("/syncify/i18n/not-in-worker/unowned", test_not_in_worker_unowned);
  g_test_add_func ("/syncify/i18n/closed/blocking", test_closed_blocking);
  g_test_add_func ("/syncify/i18n/closed/asyncify", test_closed_asyncify);
  g_test_add_func ("/syncify/i18n/cancelled", test_cancelled);
  g_test_add_func ("/syncify/i18n/would-deadlock", test_would_deadlock);
  g_test_add_func ("/syncify/i18n/iterator-no-source", test_iterator_no_source);

  status = g_test_run ();
  clear_german ();
  return status;
}
