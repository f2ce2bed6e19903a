/* hasher-client.c: a client library for org.syncify.Hasher built on one
 * background context
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The pattern of Flyte's Syncify("name"), in C. Each operation is written
 * once, asynchronously, as it would be on any GLib main loop; it always runs
 * on the background context "hasher-client", where the client's private
 * GDBusConnection was made. Two thin wrappers per operation give callers
 * both forms:
 *
 *   blocking: syncify_context_await () + SYNCIFY_DEFINE_START_FUNC, then the
 *             operation's own _finish on the calling thread;
 *   async:    syncify_await_full_async () with the client as source
 *             object and the _async function as source tag, so the callback
 *             gets the client as for any GIO call, and _finish is
 *             syncify_await_full_finish () after the usual checks: no GTask
 *             of our own.
 */

#include <syncify-glib/syncify-glib.h>

#include "hasher-client.h"

struct _HasherClient
{
  GObject          parent_instance;

  /* Immutable after construction. */
  SyncifyContext  *context;      /* the shared background context (one use counted) */
  GDBusConnection *connection;   /* (owned): made on, and used from, the context's thread */
  guint            progress_id;  /* signal subscription, in the creator's context */
};

enum {
  SIGNAL_PROGRESS,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (HasherClient, hasher_client, G_TYPE_OBJECT)

/* ------------------------------------------------------------------------ *
 * The background context: one for all clients of the process
 * ------------------------------------------------------------------------ */

static GMutex          shared_lock;
static SyncifyContext *shared_context;  /* (owned) (nullable): protected by shared_lock */
static guint           shared_users;    /* protected by shared_lock */

/* Returns the shared context (borrowed until shared_context_release()). */
static SyncifyContext *
shared_context_acquire (void)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&shared_lock);

  if (shared_context == NULL)
    shared_context = syncify_context_new_thread ("hasher-client");
  shared_users++;
  return shared_context;
}

/* The shared context, while the caller holds a use of it. */
static SyncifyContext *
shared_context_get (void)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&shared_lock);

  g_assert (shared_users > 0);
  return shared_context;
}

static void
shared_context_release (void)
{
  SyncifyContext *last = NULL;

  g_mutex_lock (&shared_lock);
  g_assert (shared_users > 0);
  if (--shared_users == 0)
    last = g_steal_pointer (&shared_context);
  g_mutex_unlock (&shared_lock);

  if (last != NULL)
    {
      /* Stops and joins the "hasher-client" thread (unless this is that
       * thread: it then exits on its own). */
      syncify_context_shutdown (last);
      g_object_unref (last);
    }
}

/* ------------------------------------------------------------------------ *
 * GObject
 * ------------------------------------------------------------------------ */

/* Runs on the background thread, where the connection was made. */
static gpointer
drop_connection (gpointer       user_data,
                 GCancellable  *cancellable,
                 GError       **error)
{
  GDBusConnection *connection = user_data;

  /* A private connection stays open until closed. close_sync() iterates a
   * private context of its own, so it may block this thread briefly. */
  if (!g_dbus_connection_is_closed (connection))
    g_dbus_connection_close_sync (connection, NULL, NULL);
  g_object_unref (connection);
  return NULL;
}

static void
hasher_client_dispose (GObject *object)
{
  HasherClient *self = HASHER_CLIENT (object);

  if (self->connection != NULL)
    {
      GDBusConnection *connection = g_steal_pointer (&self->connection);
      g_autoptr(GError) error = NULL;

      if (self->progress_id != 0)
        g_dbus_connection_signal_unsubscribe (connection, self->progress_id);
      self->progress_id = 0;

      syncify_context_invoke_sync (self->context, drop_connection, connection, NULL, &error);
      if (error != NULL)
        {
          /* The context is gone (it was shut down): nothing runs there
           * any more, so this thread is as good as any. */
          drop_connection (connection, NULL, NULL);
        }
    }

  G_OBJECT_CLASS (hasher_client_parent_class)->dispose (object);
}

static void
hasher_client_finalize (GObject *object)
{
  HasherClient *self = HASHER_CLIENT (object);

  if (self->context != NULL)
    shared_context_release ();

  G_OBJECT_CLASS (hasher_client_parent_class)->finalize (object);
}

static void
hasher_client_class_init (HasherClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hasher_client_dispose;
  object_class->finalize = hasher_client_finalize;

  signals[SIGNAL_PROGRESS] =
    g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_UINT64, G_TYPE_UINT64);

  /* Registers HASHER_ERROR with GDBus before any reply is decoded, so the
   * daemon's errors arrive in that domain. */
  (void) hasher_error_quark ();
}

static void
hasher_client_init (HasherClient *self)
{
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* Runs in the thread-default main context of the thread that created the
 * client: GDBus delivers a subscription's signals where it was made. */
static void
on_progress (GDBusConnection *connection,
             const char      *sender_name,
             const char      *object_path,
             const char      *interface_name,
             const char      *signal_name,
             GVariant        *parameters,
             gpointer         user_data)
{
  g_autoptr(HasherClient) self = g_weak_ref_get (user_data);
  const char *path;
  guint64 done, total;

  if (self == NULL || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(stt)")))
    return;
  g_variant_get (parameters, "(&stt)", &path, &done, &total);
  g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, path, done, total);
}

/* Called on the thread that asked for the client, with the context's use
 * and the connection to take. */
static HasherClient *
hasher_client_new_take (SyncifyContext  *context,
                        GDBusConnection *connection)
{
  HasherClient *self = g_object_new (HASHER_TYPE_CLIENT, NULL);
  GWeakRef *weak = g_new0 (GWeakRef, 1);

  self->context = context;
  self->connection = connection;

  /* Subscribed here, not on the background thread: the "progress" signal
   * is for the caller's loop, like a GDBusProxy's signals. */
  g_weak_ref_init (weak, self);
  self->progress_id = g_dbus_connection_signal_subscribe (connection, HASHER_BUS_NAME,
                                                          HASHER_INTERFACE, "Progress",
                                                          HASHER_OBJECT_PATH, NULL,
                                                          G_DBUS_SIGNAL_FLAGS_NONE,
                                                          on_progress, weak, weak_ref_free);
  return self;
}

/* ------------------------------------------------------------------------ *
 * The asynchronous implementations. Each runs on the background thread
 * (the start functions below are called there by syncify-glib).
 * ------------------------------------------------------------------------ */

static void
connect_async (const char          *address,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             user_data)
{
  g_autofree char *session_address = NULL;
  GError *error = NULL;

  if (address == NULL)
    {
      session_address = g_dbus_address_get_for_bus_sync (G_BUS_TYPE_SESSION, cancellable, &error);
      if (session_address == NULL)
        {
          g_task_report_error (NULL, callback, user_data, connect_async, error);
          return;
        }
      address = session_address;
    }

  /* A private connection, made on this thread: its method replies and the
   * "closed" signal come back to this thread's context. Private, so that
   * closing one client does not close the others. */
  g_dbus_connection_new_for_address (address,
                                     G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                     G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                     NULL, cancellable, callback, user_data);
}

static GDBusConnection *
connect_finish (GAsyncResult  *result,
                GError       **error)
{
  if (g_task_is_valid (result, NULL))
    return g_task_propagate_pointer (G_TASK (result), error);
  return g_dbus_connection_new_for_address_finish (result, error);
}

static void
hash_file_call (GDBusConnection     *connection,
                const char          *path,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             user_data)
{
  /* No timeout: a big file or a slow pipe may take long; cancel instead. */
  g_dbus_connection_call (connection, HASHER_BUS_NAME, HASHER_OBJECT_PATH,
                          HASHER_INTERFACE, "HashFile", g_variant_new ("(s)", path),
                          G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, G_MAXINT,
                          cancellable, callback, user_data);
}

/* May be called on any thread: g_dbus_connection_call_finish() may. */
static char *
hash_file_result (GDBusConnection  *connection,
                  GAsyncResult     *result,
                  GError          **error)
{
  g_autoptr(GVariant) reply = NULL;
  GError *local_error = NULL;
  char *sha256 = NULL;

  reply = g_dbus_connection_call_finish (connection, result, &local_error);
  if (reply == NULL)
    {
      /* Keeps the HASHER_ERROR code (the domain is registered with GDBus)
       * and drops the "GDBus.Error:org.syncify...: " prefix. */
      g_dbus_error_strip_remote_error (local_error);
      g_propagate_error (error, local_error);
      return NULL;
    }
  g_variant_get (reply, "(s)", &sha256);
  return sha256;
}

/* ------------------------------------------------------------------------ *
 * Class-level: hasher_client_new ()
 * ------------------------------------------------------------------------ */

typedef struct {
  char *address;
} NewArgs;

SYNCIFY_DEFINE_START_FUNC (connect_start, NewArgs,
                           connect_async (args->address, cancellable, callback, callback_data))

HasherClient *
hasher_client_new (const char    *address,
                   GCancellable  *cancellable,
                   GError       **error)
{
  NewArgs args = { (char *) address };
  g_autoptr(GAsyncResult) result = NULL;
  GDBusConnection *connection = NULL;
  SyncifyContext *context;

  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  context = shared_context_acquire ();
  result = syncify_context_await (context, SYNCIFY_FLAGS_NONE, connect_start, &args,
                                  cancellable, error);
  if (result != NULL)
    connection = connect_finish (result, error);
  if (connection == NULL)
    {
      shared_context_release ();
      return NULL;
    }
  return hasher_client_new_take (context, connection);
}

static void
new_args_free (gpointer data)
{
  NewArgs *args = data;

  g_free (args->address);
  g_free (args);
}

void
hasher_client_new_async (const char          *address,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  NewArgs *args = g_new0 (NewArgs, 1);

  /* The context's use is handed to the client by _finish, or dropped
   * there if no client was made. */
  args->address = g_strdup (address);
  syncify_await_full_async (shared_context_acquire (), NULL, hasher_client_new_async,
                                    connect_start, NULL, args, new_args_free, NULL,
                                    cancellable, callback, user_data);
}

HasherClient *
hasher_client_new_finish (GAsyncResult  *result,
                          GError       **error)
{
  g_autoptr(GAsyncResult) inner = NULL;
  GDBusConnection *connection = NULL;

  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, hasher_client_new_async), NULL);

  inner = syncify_await_full_finish (result, error);
  if (inner != NULL)
    connection = connect_finish (inner, error);
  if (connection == NULL)
    {
      shared_context_release ();
      return NULL;
    }
  /* Here, in the caller's thread-default context (where the callback
   * runs), so the client's signal subscription delivers there. */
  return hasher_client_new_take (shared_context_get (), connection);
}

/* ------------------------------------------------------------------------ *
 * Method: hasher_client_hash_file ()
 * ------------------------------------------------------------------------ */

typedef struct {
  GDBusConnection *connection;
  char            *path;
} HashArgs;

SYNCIFY_DEFINE_START_FUNC (hash_file_start, HashArgs,
                           hash_file_call (args->connection, args->path,
                                           cancellable, callback, callback_data))

char *
hasher_client_hash_file (HasherClient  *self,
                         const char    *path,
                         GCancellable  *cancellable,
                         GError       **error)
{
  HashArgs args = { self->connection, (char *) path };
  g_autoptr(GAsyncResult) result = NULL;

  g_return_val_if_fail (HASHER_IS_CLIENT (self), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  result = syncify_context_await (self->context, SYNCIFY_FLAGS_NONE, hash_file_start, &args,
                                  cancellable, error);
  return result != NULL ? hash_file_result (self->connection, result, error) : NULL;
}

/* Runs on the background thread once the call is over. */
static void
hash_args_free (gpointer data)
{
  HashArgs *args = data;

  g_object_unref (args->connection);
  g_free (args->path);
  g_free (args);
}

/* Runs on the background thread, inside the call's completion callback. */
static gpointer
hash_file_finish (GObject       *source,
                  GAsyncResult  *result,
                  gpointer       user_data,
                  GError       **error)
{
  HashArgs *args = user_data;

  return hash_file_result (args->connection, result, error);
}

void
hasher_client_hash_file_async (HasherClient        *self,
                               const char          *path,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  HashArgs *args;

  g_return_if_fail (HASHER_IS_CLIENT (self));
  g_return_if_fail (path != NULL);

  args = g_new0 (HashArgs, 1);
  args->connection = g_object_ref (self->connection);
  args->path = g_strdup (path);
  syncify_await_full_async (self->context, self, hasher_client_hash_file_async,
                                    hash_file_start, hash_file_finish, args, hash_args_free,
                                    g_free, cancellable, callback, user_data);
}

char *
hasher_client_hash_file_finish (HasherClient  *self,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, hasher_client_hash_file_async), NULL);

  return syncify_await_full_finish (result, error);
}

/* ------------------------------------------------------------------------ *
 * Methods with a blocking form only
 * ------------------------------------------------------------------------ */

SYNCIFY_DEFINE_START_FUNC (get_stats_start, GDBusConnection,
                           g_dbus_connection_call (args, HASHER_BUS_NAME, HASHER_OBJECT_PATH,
                                                   HASHER_INTERFACE, "GetStats", NULL,
                                                   G_VARIANT_TYPE ("(a{sv})"),
                                                   G_DBUS_CALL_FLAGS_NONE, -1,
                                                   cancellable, callback, callback_data))

GVariant *
hasher_client_get_stats (HasherClient  *self,
                         GCancellable  *cancellable,
                         GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GVariant) reply = NULL;
  GVariant *stats = NULL;

  g_return_val_if_fail (HASHER_IS_CLIENT (self), NULL);

  result = syncify_context_await (self->context, SYNCIFY_FLAGS_NONE, get_stats_start,
                                  self->connection, cancellable, error);
  if (result != NULL)
    reply = g_dbus_connection_call_finish (self->connection, result, error);
  if (reply != NULL)
    g_variant_get (reply, "(@a{sv})", &stats);
  return stats;
}

SYNCIFY_DEFINE_START_FUNC (close_start, GDBusConnection,
                           g_dbus_connection_close (args, cancellable, callback, callback_data))

gboolean
hasher_client_close (HasherClient  *self,
                     GCancellable  *cancellable,
                     GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  g_return_val_if_fail (HASHER_IS_CLIENT (self), FALSE);

  result = syncify_context_await (self->context, SYNCIFY_FLAGS_NONE, close_start,
                                  self->connection, cancellable, error);
  return result != NULL && g_dbus_connection_close_finish (self->connection, result, error);
}

const char *
hasher_client_get_unique_name (HasherClient *self)
{
  g_return_val_if_fail (HASHER_IS_CLIENT (self), NULL);

  return g_dbus_connection_get_unique_name (self->connection);
}
