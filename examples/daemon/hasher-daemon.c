/* hasher-daemon.c: a GIO D-Bus daemon whose methods do blocking work in
 * asyncified workers
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * It owns org.syncify.Hasher on the session bus and exports
 * /org/syncify/Hasher (see org.syncify.Hasher.xml). HashFile reads the file
 * the caller names with plain blocking read()s in a worker thread.
 *
 * Which thread runs what (doc/dbus-daemon.md explains why, line by line):
 *
 * - The main thread runs the only GMainLoop, on the global default
 *   GMainContext. The GDBusConnection, the exported object, every name
 *   watch, every piece of daemon state (the callers, their cached uids, the
 *   counters) live there and are touched only there: no locks.
 * - Each HashFile call becomes an asyncify job on `jobs`, a SyncifyContext
 *   wrapping that same default context. The job runs hash_file_worker() in a
 *   worker thread; its completion callback runs back on the main thread and
 *   answers the call with g_dbus_method_invocation_return_*().
 * - A worker that needs the connection or the daemon's state does not touch
 *   them: it syncifies onto the main context. It looks up the caller's uid
 *   with syncify_context_await (NULL, ...) (an asynchronous D-Bus call to
 *   the bus, started on the main thread) and emits its unicast Progress
 *   signal with syncify_context_invoke_sync (NULL, ...).
 * - When a caller leaves the bus, its name watch fires on the main thread and
 *   cancels the GCancellable all its jobs were given; workers check it
 *   between chunks, and a read from a pipe polls it.
 * - SIGTERM (g_unix_signal_add, on the main loop): refuse new calls, shut
 *   `jobs` down (which cancels what runs), wait for the jobs to answer
 *   (bounded), unown the name, flush, and exit 0.
 *
 * Log lines go to stdout, each starting with "hasher-daemon: ".
 */

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <syncify-glib/syncify-glib.h>

#include "hasher-common.h"

#define CHUNK_SIZE     (128 * 1024)
#define PROGRESS_STEP  (1024 * 1024)

typedef struct _Caller Caller;

typedef struct {
  GThread         *main_thread;
  GMainLoop       *loop;
  GDBusNodeInfo   *introspection;   /* (owned) */
  GDBusConnection *connection;      /* (owned) (nullable): set when the bus is acquired */
  SyncifyContext  *jobs;            /* (owned): wraps the default main context */
  guint            owner_id;
  guint            registration_id;
  GHashTable      *callers;         /* unique name -> Caller (owned ref) */
  guint            n_callers_alive; /* Caller structs not yet freed */

  guint            n_jobs;          /* HashFile calls not yet answered */
  guint64          n_completed;
  guint64          n_failed;
  guint64          n_cancelled;
  guint64          n_uid_lookups;

  gboolean         stopping;
  gboolean         flushed;
  guint            stop_timeout_id;
  guint            shutdown_timeout_s;
  gint64           stop_started_us;
  int              exit_status;
} Daemon;

/* A peer on the bus that called HashFile: one per unique name, for as long
 * as that name exists. Main thread only. */
struct _Caller {
  guint         ref_count;
  Daemon       *daemon;
  char         *name;           /* unique name, e.g. ":1.42" */
  guint         watch_id;
  GCancellable *cancellable;    /* (owned): fires when the peer leaves the bus */
  gboolean      gone;
  guint         n_jobs;

  /* The peer's uid, looked up once with GetConnectionUnixUser. */
  gboolean      have_uid;
  gboolean      uid_pending;
  guint32       uid;
  GPtrArray    *uid_waiters;    /* GTask, (owned) */
};

/* One HashFile call. Created and freed on the main thread. The worker
 * reads the immutable @path and @sender, and hands the job back to
 * main-thread functions; it never touches @caller or @invocation. */
typedef struct {
  Daemon                *daemon;
  Caller                *caller;       /* (owned ref): main thread only */
  GDBusMethodInvocation *invocation;   /* (owned): answered by hash_file_done */
  char                  *path;         /* (owned) immutable */
  char                  *sender;       /* (owned) immutable: the caller's unique name */
} Job;

static void daemon_begin_stop (Daemon *daemon);
static void daemon_maybe_quit (Daemon *daemon);

static void G_GNUC_PRINTF (1, 2)
log_line (const char *format,
          ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_print ("hasher-daemon: %s\n", text);
}

static void
assert_main_thread (Daemon *daemon)
{
  /* Everything that touches daemon state says so, and checks it. */
  g_assert (g_thread_self () == daemon->main_thread);
}

/* The names of this process's threads, from /proc (Linux). */
static char *
describe_threads (guint *n_threads)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *tid;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/task", tid, "comm", NULL);
      char *comm = NULL;

      if (g_file_get_contents (path, &comm, NULL, NULL))
        g_ptr_array_add (names, g_strstrip (comm));
    }
  *n_threads = names->len;
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* ------------------------------------------------------------------------ *
 * Callers (main thread)
 * ------------------------------------------------------------------------ */

static Caller *
caller_ref (Caller *caller)
{
  caller->ref_count++;
  return caller;
}

static void
caller_unref (gpointer data)
{
  Caller *caller = data;
  Daemon *daemon = caller->daemon;

  assert_main_thread (daemon);
  if (--caller->ref_count > 0)
    return;

  g_assert (caller->uid_waiters->len == 0);
  g_ptr_array_unref (caller->uid_waiters);
  g_object_unref (caller->cancellable);
  g_free (caller->name);
  g_free (caller);

  daemon->n_callers_alive--;
  daemon_maybe_quit (daemon);
}

static void
on_caller_vanished (GDBusConnection *connection,
                    const char      *name,
                    gpointer         user_data)
{
  Caller *caller = user_data;
  Daemon *daemon = caller->daemon;

  assert_main_thread (daemon);
  if (caller->gone)
    return;
  caller->gone = TRUE;

  if (caller->n_jobs > 0)
    log_line ("%s left the bus: cancelling its %u job(s)", caller->name, caller->n_jobs);
  g_cancellable_cancel (caller->cancellable);

  /* Its unique name never comes back: forget it. The watch holds its own
   * reference, dropped by its destroy notify once GDBus is done with it. */
  g_bus_unwatch_name (caller->watch_id);
  caller->watch_id = 0;
  g_hash_table_remove (daemon->callers, caller->name);
}

static Caller *
daemon_get_caller (Daemon     *daemon,
                   const char *sender)
{
  Caller *caller = g_hash_table_lookup (daemon->callers, sender);

  if (caller != NULL)
    return caller;

  caller = g_new0 (Caller, 1);
  caller->ref_count = 1;   /* the table's */
  caller->daemon = daemon;
  caller->name = g_strdup (sender);
  caller->cancellable = g_cancellable_new ();
  caller->uid_waiters = g_ptr_array_new ();
  daemon->n_callers_alive++;
  g_hash_table_insert (daemon->callers, caller->name, caller);

  /* Subscribes to NameOwnerChanged for this name, then asks GetNameOwner:
   * a peer that left before we got here is reported too. The callbacks run
   * in this thread's thread-default context: the main one. */
  caller->watch_id = g_bus_watch_name_on_connection (daemon->connection, sender,
                                                     G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                     NULL, on_caller_vanished,
                                                     caller_ref (caller), caller_unref);
  return caller;
}

/* The caller's uid, as the bus saw it when the peer connected. One
 * GetConnectionUnixUser round trip per peer, however many workers ask at
 * once: the cache and the queue of waiters are main-thread state. */
static void
got_caller_uid (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Caller *caller = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                             result, &error);
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&caller->uid_waiters);

  caller->uid_waiters = g_ptr_array_new ();
  caller->uid_pending = FALSE;
  if (reply != NULL)
    {
      g_variant_get (reply, "(u)", &caller->uid);
      caller->have_uid = TRUE;
    }

  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *task = waiters->pdata[i];

      if (reply != NULL)
        g_task_return_int (task, caller->uid);
      else
        g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }
  caller_unref (caller);
}

static void
caller_lookup_uid_async (Caller              *caller,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  Daemon *daemon = caller->daemon;
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  assert_main_thread (daemon);
  g_task_set_source_tag (task, caller_lookup_uid_async);

  if (caller->have_uid)
    {
      g_task_return_int (task, caller->uid);
      g_object_unref (task);
      return;
    }

  g_ptr_array_add (caller->uid_waiters, task);
  if (caller->uid_pending)
    return;

  caller->uid_pending = TRUE;
  daemon->n_uid_lookups++;
  g_dbus_connection_call (daemon->connection,
                          "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", caller->name), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                          got_caller_uid, caller_ref (caller));
}

/* Called on the worker: a GTask's result may be propagated on any thread. */
static gboolean
caller_lookup_uid_finish (GAsyncResult  *result,
                          guint32       *uid,
                          GError       **error)
{
  GError *local_error = NULL;
  gssize value = g_task_propagate_int (G_TASK (result), &local_error);

  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  *uid = (guint32) value;
  return TRUE;
}

/* ------------------------------------------------------------------------ *
 * The worker
 * ------------------------------------------------------------------------ */

SYNCIFY_DEFINE_START_FUNC (caller_uid_start, Job,
                           caller_lookup_uid_async (args->caller, cancellable,
                                                    callback, callback_data))

typedef struct {
  Job     *job;
  guint64  done;
  guint64  total;
} Progress;

/* Runs on the main thread, called from a worker through invoke_sync. */
static gpointer
emit_progress (gpointer       user_data,
               GCancellable  *cancellable,
               GError       **error)
{
  Progress *progress = user_data;
  Job *job = progress->job;
  Daemon *daemon = job->daemon;

  assert_main_thread (daemon);
  if (job->caller->gone || daemon->connection == NULL)
    return NULL;

  /* Unicast: the destination is the caller's unique name, so the bus
   * delivers it to that peer only. */
  g_dbus_connection_emit_signal (daemon->connection, job->caller->name,
                                 HASHER_OBJECT_PATH, HASHER_INTERFACE, "Progress",
                                 g_variant_new ("(stt)", job->path,
                                                progress->done, progress->total),
                                 error);
  return NULL;
}

static void
set_error_from_errno (GError     **error,
                      int          saved_errno,
                      const char  *what,
                      const char  *path)
{
  HasherError code;

  switch (saved_errno)
    {
    case ENOENT:
    case ENOTDIR:
      code = HASHER_ERROR_NOT_FOUND;
      break;
    case EACCES:
    case EPERM:
      code = HASHER_ERROR_ACCESS_DENIED;
      break;
    case EISDIR:
      code = HASHER_ERROR_NOT_SUPPORTED;
      break;
    default:
      code = HASHER_ERROR_FAILED;
      break;
    }
  g_set_error (error, HASHER_ERROR, code, "Could not %s “%s”: %s",
               what, path, g_strerror (saved_errno));
}

/* Waits until @fd is readable or @cancellable fires: a read from a pipe may
 * block for as long as the writer likes, and must still be cancellable. */
static gboolean
wait_readable (int            fd,
               GCancellable  *cancellable,
               GError       **error)
{
  GPollFD fds[2] = { { fd, G_IO_IN | G_IO_HUP | G_IO_ERR, 0 }, };
  guint n_fds = 1;
  int ret, saved_errno;

  if (g_cancellable_make_pollfd (cancellable, &fds[1]))
    n_fds = 2;
  do
    ret = g_poll (fds, n_fds, -1);
  while (ret < 0 && errno == EINTR);
  saved_errno = errno;
  if (n_fds == 2)
    g_cancellable_release_fd (cancellable);

  if (ret < 0)
    {
      g_set_error (error, HASHER_ERROR, HASHER_ERROR_FAILED, "poll: %s", g_strerror (saved_errno));
      return FALSE;
    }
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

/* A SyncifyThreadFunc: runs in a worker thread, and blocks as it likes. */
static gpointer
hash_file_worker (gpointer       user_data,
                  GCancellable  *cancellable,
                  GError       **error)
{
  Job *job = user_data;
  g_autoptr(GAsyncResult) uid_result = NULL;
  g_autoptr(GChecksum) checksum = NULL;
  g_autofree guchar *buffer = NULL;
  guint32 uid;
  struct stat st;
  gboolean is_pipe;
  guint64 done = 0, next_report = PROGRESS_STEP;
  int fd;

  g_assert (g_thread_self () != job->daemon->main_thread);

  /* 1. Who is asking? The answer lives on the main thread (a cache and a
   *    D-Bus call on the connection): await it from there. NULL means the
   *    context this worker belongs to, `jobs`. */
  uid_result = syncify_context_await (NULL, SYNCIFY_FLAGS_NONE, caller_uid_start, job,
                                      cancellable, error);
  if (uid_result == NULL || !caller_lookup_uid_finish (uid_result, &uid, error))
    return NULL;

  /* 2. Plain blocking POSIX I/O. O_NONBLOCK keeps open() from waiting for a
   *    pipe's writer; reads from a pipe wait in wait_readable() instead. */
  fd = g_open (job->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    {
      set_error_from_errno (error, errno, "open", job->path);
      return NULL;
    }
  if (fstat (fd, &st) < 0)
    {
      set_error_from_errno (error, errno, "stat", job->path);
      g_close (fd, NULL);
      return NULL;
    }
  is_pipe = S_ISFIFO (st.st_mode);
  if (!S_ISREG (st.st_mode) && !is_pipe)
    {
      g_set_error (error, HASHER_ERROR, HASHER_ERROR_NOT_SUPPORTED,
                   "“%s” is neither a regular file nor a pipe", job->path);
      g_close (fd, NULL);
      return NULL;
    }
  /* The daemon may read more than its callers: hash only what the caller
   * owns or everyone may read. */
  if (uid != 0 && st.st_uid != uid && !(st.st_mode & S_IROTH))
    {
      g_set_error (error, HASHER_ERROR, HASHER_ERROR_ACCESS_DENIED,
                   "Caller %s (uid %u) may not read “%s”", job->sender, uid, job->path);
      g_close (fd, NULL);
      return NULL;
    }

  checksum = g_checksum_new (G_CHECKSUM_SHA256);
  buffer = g_malloc (CHUNK_SIZE);

  for (;;)
    {
      gssize n;

      /* 3. Cancellation is cooperative: checked between chunks. It fires
       *    when the caller leaves the bus or the daemon shuts down. */
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        break;
      if (is_pipe && !wait_readable (fd, cancellable, error))
        break;

      n = read (fd, buffer, CHUNK_SIZE);
      if (n < 0)
        {
          if (errno == EINTR || errno == EAGAIN)
            continue;
          set_error_from_errno (error, errno, "read", job->path);
          break;
        }
      if (n == 0)
        {
          g_close (fd, NULL);
          return g_strdup (g_checksum_get_string (checksum));
        }

      g_checksum_update (checksum, buffer, n);
      done += n;

      /* 4. Progress goes out on the connection, so on the main thread: the
       *    worker waits there for the signal to be queued, a few µs per MiB. */
      if (is_pipe || done >= next_report)
        {
          Progress progress = { job, done, is_pipe ? 0 : (guint64) st.st_size };
          GError *local_error = NULL;

          while (next_report <= done)
            next_report += PROGRESS_STEP;
          syncify_context_invoke_sync (NULL, emit_progress, &progress, cancellable, &local_error);
          if (local_error != NULL)
            {
              g_propagate_error (error, local_error);
              break;
            }
        }
    }

  g_close (fd, NULL);
  return NULL;
}

/* ------------------------------------------------------------------------ *
 * Method calls (main thread)
 * ------------------------------------------------------------------------ */

/* The asyncify callback: runs on the main thread, in the context the job was
 * started from. Every call is answered here, exactly once. */
static void
hash_file_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Job *job = user_data;
  Daemon *daemon = job->daemon;
  g_autoptr(GError) error = NULL;
  g_autofree char *sha256 = NULL;

  assert_main_thread (daemon);
  sha256 = syncify_context_asyncify_finish (SYNCIFY_CONTEXT (source), result, &error);

  if (sha256 != NULL)
    {
      daemon->n_completed++;
      g_dbus_method_invocation_return_value (g_steal_pointer (&job->invocation),
                                             g_variant_new ("(s)", sha256));
    }
  else
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
          g_error_matches (error, SYNCIFY_ERROR, SYNCIFY_ERROR_CLOSED))
        {
          /* Cancelled by the caller leaving, or by the shutdown (which also
           * refuses the jobs that had not started yet). */
          daemon->n_cancelled++;
          g_clear_error (&error);
          if (daemon->stopping && !job->caller->gone)
            g_set_error_literal (&error, HASHER_ERROR, HASHER_ERROR_SHUTTING_DOWN,
                                 "The hasher service is shutting down");
          else
            g_set_error_literal (&error, HASHER_ERROR, HASHER_ERROR_CANCELLED,
                                 "The call was cancelled");
        }
      else
        {
          daemon->n_failed++;
          if (error->domain != HASHER_ERROR)
            {
              GError *mapped = g_error_new (HASHER_ERROR, HASHER_ERROR_FAILED, "%s", error->message);

              g_clear_error (&error);
              error = mapped;
            }
        }
      /* To a caller that left, this reply goes nowhere; that is fine. */
      g_dbus_method_invocation_return_gerror (g_steal_pointer (&job->invocation), error);
    }

  /* return_value () and return_gerror () took the invocation. */
  job->caller->n_jobs--;
  caller_unref (job->caller);
  g_free (job->path);
  g_free (job->sender);
  g_free (job);
  daemon->n_jobs--;
  daemon_maybe_quit (daemon);
}

static GVariant *
daemon_get_stats (Daemon *daemon)
{
  GVariantBuilder builder;
  guint n_threads;
  g_autofree char *names = describe_threads (&n_threads);

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&builder, "{sv}", "completed", g_variant_new_uint64 (daemon->n_completed));
  g_variant_builder_add (&builder, "{sv}", "failed", g_variant_new_uint64 (daemon->n_failed));
  g_variant_builder_add (&builder, "{sv}", "cancelled", g_variant_new_uint64 (daemon->n_cancelled));
  g_variant_builder_add (&builder, "{sv}", "uid-lookups", g_variant_new_uint64 (daemon->n_uid_lookups));
  g_variant_builder_add (&builder, "{sv}", "running", g_variant_new_uint32 (daemon->n_jobs));
  g_variant_builder_add (&builder, "{sv}", "callers", g_variant_new_uint32 (g_hash_table_size (daemon->callers)));
  g_variant_builder_add (&builder, "{sv}", "threads", g_variant_new_uint32 (n_threads));
  return g_variant_new ("(a{sv})", &builder);
}

static void
handle_method_call (GDBusConnection       *connection,
                    const char            *sender,
                    const char            *object_path,
                    const char            *interface_name,
                    const char            *method_name,
                    GVariant              *parameters,
                    GDBusMethodInvocation *invocation,
                    gpointer               user_data)
{
  Daemon *daemon = user_data;

  /* Registered from the main thread: GDBus dispatches here. */
  assert_main_thread (daemon);

  if (g_str_equal (method_name, "HashFile"))
    {
      const char *path;
      Caller *caller;
      Job *job;

      g_variant_get (parameters, "(&s)", &path);
      if (daemon->stopping)
        {
          g_dbus_method_invocation_return_error_literal (invocation, HASHER_ERROR,
                                                         HASHER_ERROR_SHUTTING_DOWN,
                                                         "The hasher service is shutting down");
          return;
        }
      if (!g_path_is_absolute (path))
        {
          g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR,
                                                 G_DBUS_ERROR_INVALID_ARGS,
                                                 "“%s” is not an absolute path", path);
          return;
        }

      caller = daemon_get_caller (daemon, sender);
      job = g_new0 (Job, 1);
      job->daemon = daemon;
      job->caller = caller_ref (caller);
      job->invocation = invocation;   /* ours to answer: GDBus handed it over */
      job->path = g_strdup (path);
      job->sender = g_strdup (sender);
      caller->n_jobs++;
      daemon->n_jobs++;

      /* The worker gets @job (borrowed: the callback frees it) and a
       * cancellable that fires with the caller's, or when `jobs` shuts
       * down. hash_file_done runs here, on the main thread. */
      syncify_context_asyncify (daemon->jobs, SYNCIFY_FLAGS_NONE,
                                hash_file_worker, job, NULL, g_free,
                                caller->cancellable, hash_file_done, job);
    }
  else if (g_str_equal (method_name, "GetStats"))
    {
      g_dbus_method_invocation_return_value (invocation, daemon_get_stats (daemon));
    }
  else
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR,
                                             G_DBUS_ERROR_UNKNOWN_METHOD,
                                             "No such method %s", method_name);
    }
}

static const GDBusInterfaceVTable hasher_vtable = {
  .method_call = handle_method_call,
};

/* ------------------------------------------------------------------------ *
 * The bus name (main thread)
 * ------------------------------------------------------------------------ */

static void
on_bus_acquired (GDBusConnection *connection,
                 const char      *name,
                 gpointer         user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;

  daemon->connection = g_object_ref (connection);
  daemon->registration_id =
    g_dbus_connection_register_object (connection, HASHER_OBJECT_PATH,
                                       daemon->introspection->interfaces[0],
                                       &hasher_vtable, daemon, NULL, &error);
  if (daemon->registration_id == 0)
    {
      g_printerr ("hasher-daemon: could not export %s: %s\n", HASHER_OBJECT_PATH, error->message);
      daemon->exit_status = 1;
      g_main_loop_quit (daemon->loop);
    }
}

static void
on_name_acquired (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  guint n_threads;
  g_autofree char *names = describe_threads (&n_threads);

  log_line ("ready: owns %s as %s; %u threads: %s", name,
            g_dbus_connection_get_unique_name (connection), n_threads, names);
}

static void
on_name_lost (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  Daemon *daemon = user_data;

  if (daemon->stopping)
    return;
  daemon->exit_status = 1;
  if (daemon->connection == NULL)
    {
      g_printerr ("hasher-daemon: could not connect to the session bus\n");
      g_main_loop_quit (daemon->loop);
      return;
    }
  /* Replaced by another instance, or the bus went away (GDBus then passes
   * a NULL connection). Either way, stop as for SIGTERM. */
  g_printerr ("hasher-daemon: %s\n",
              connection == NULL ? "lost the connection to the bus" : "lost the bus name");
  daemon_begin_stop (daemon);
}

/* ------------------------------------------------------------------------ *
 * Shutdown (main thread)
 * ------------------------------------------------------------------------ */

static void
on_flushed (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Daemon *daemon = user_data;

  /* Errors only mean the bus is already gone. */
  g_dbus_connection_flush_finish (G_DBUS_CONNECTION (source), result, NULL);
  daemon->flushed = TRUE;
  daemon_maybe_quit (daemon);
}

/* Every call has been answered (or the bound was reached): leave the bus. */
static void
daemon_finish_stop (Daemon *daemon)
{
  g_clear_handle_id (&daemon->stop_timeout_id, g_source_remove);

  if (daemon->n_jobs == 0)
    log_line ("all jobs answered after %" G_GINT64_FORMAT " ms; releasing %s",
              (g_get_monotonic_time () - daemon->stop_started_us) / 1000, HASHER_BUS_NAME);
  else
    log_line ("%u job(s) unanswered; releasing %s", daemon->n_jobs, HASHER_BUS_NAME);
  g_bus_unown_name (daemon->owner_id);
  daemon->owner_id = 0;
  if (daemon->registration_id != 0)
    g_dbus_connection_unregister_object (daemon->connection, daemon->registration_id);
  daemon->registration_id = 0;

  /* Drop the remaining name watches; their destroy notifies come back
   * through this loop. */
  {
    GHashTableIter iter;
    Caller *caller;

    g_hash_table_iter_init (&iter, daemon->callers);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &caller))
      {
        g_bus_unwatch_name (caller->watch_id);
        caller->watch_id = 0;
        g_hash_table_iter_remove (&iter);
      }
  }

  if (daemon->connection != NULL)
    g_dbus_connection_flush (daemon->connection, NULL, on_flushed, daemon);
  else
    daemon->flushed = TRUE;
  daemon_maybe_quit (daemon);
}

static gboolean
on_stop_timeout (gpointer user_data)
{
  Daemon *daemon = user_data;

  daemon->stop_timeout_id = 0;
  g_printerr ("hasher-daemon: %u job(s) still running after %u s; exiting anyway\n",
              daemon->n_jobs, daemon->shutdown_timeout_s);
  daemon->exit_status = 1;
  daemon_finish_stop (daemon);
  return G_SOURCE_REMOVE;
}

static void
daemon_maybe_quit (Daemon *daemon)
{
  if (!daemon->stopping)
    return;

  if (daemon->owner_id != 0)
    {
      /* Still waiting for the jobs. */
      if (daemon->n_jobs == 0)
        daemon_finish_stop (daemon);
      return;
    }

  /* Jobs abandoned by the timeout may still hold callers: do not wait for
   * those. */
  if (daemon->flushed && (daemon->n_callers_alive == 0 || daemon->n_jobs > 0))
    g_main_loop_quit (daemon->loop);
}

static void
daemon_begin_stop (Daemon *daemon)
{
  if (daemon->stopping)
    return;

  daemon->stopping = TRUE;
  daemon->stop_started_us = g_get_monotonic_time ();
  log_line ("stopping: %u job(s) running", daemon->n_jobs);

  /* Refuses new jobs, ends the queued ones with SYNCIFY_ERROR_CLOSED and
   * cancels the running ones through their cancellables. Every job still
   * completes through hash_file_done, which answers its call. */
  syncify_context_shutdown (daemon->jobs);

  daemon->stop_timeout_id = g_timeout_add_seconds (daemon->shutdown_timeout_s,
                                                   on_stop_timeout, daemon);
  daemon_maybe_quit (daemon);
}

static gboolean
on_sigterm (gpointer user_data)
{
  Daemon *daemon = user_data;

  /* A g_unix_signal_add() source: this runs on the main loop, not in a
   * signal handler, so it may do anything. */
  log_line ("SIGTERM");
  daemon_begin_stop (daemon);
  return G_SOURCE_CONTINUE;
}

int
main (int   argc,
      char *argv[])
{
  Daemon daemon = { 0, };
  g_autoptr(GOptionContext) option_context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) xml = NULL;
  gboolean replace = FALSE;
  int max_workers = 0;
  int shutdown_timeout = 10;
  guint sigterm_id, sigint_id, n_threads;
  g_autofree char *thread_names = NULL;
  GOptionEntry entries[] = {
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &replace, "Replace a running instance", NULL },
    { "max-workers", 'w', 0, G_OPTION_ARG_INT, &max_workers,
      "How many files to hash at once (default: chosen by syncify-glib)", "N" },
    { "shutdown-timeout", 't', 0, G_OPTION_ARG_INT, &shutdown_timeout,
      "Seconds to wait for running jobs on SIGTERM (default: 10)", "S" },
    G_OPTION_ENTRY_NULL
  };

  setlocale (LC_ALL, "");
  /* One line at a time, also into a pipe. */
  setvbuf (stdout, NULL, _IOLBF, 0);

  option_context = g_option_context_new ("- hash files for D-Bus callers");
  g_option_context_add_main_entries (option_context, entries, NULL);
  if (!g_option_context_parse (option_context, &argc, &argv, &error))
    {
      g_printerr ("hasher-daemon: %s\n", error->message);
      return 2;
    }

  xml = g_resources_lookup_data ("/org/syncify/Hasher/org.syncify.Hasher.xml",
                                 G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  g_assert_no_error (error);
  daemon.introspection = g_dbus_node_info_new_for_xml (g_bytes_get_data (xml, NULL), &error);
  g_assert_no_error (error);
  (void) hasher_error_quark ();   /* registers the error domain with GDBus */

  daemon.main_thread = g_thread_self ();
  daemon.loop = g_main_loop_new (NULL, FALSE);
  daemon.callers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, caller_unref);
  daemon.shutdown_timeout_s = MAX (shutdown_timeout, 1);

  /* The workers' context: the default main context, iterated by this
   * thread's loop below. Its jobs deliver here; its workers push here. */
  daemon.jobs = syncify_context_new (NULL);
  if (max_workers > 0)
    syncify_context_set_max_workers (daemon.jobs, max_workers);

  sigterm_id = g_unix_signal_add (SIGTERM, on_sigterm, &daemon);
  sigint_id = g_unix_signal_add (SIGINT, on_sigterm, &daemon);

  daemon.owner_id = g_bus_own_name (G_BUS_TYPE_SESSION, HASHER_BUS_NAME,
                                    G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
                                    (replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
                                    on_bus_acquired, on_name_acquired, on_name_lost,
                                    &daemon, NULL);

  g_main_loop_run (daemon.loop);

  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);
  if (daemon.owner_id != 0)
    g_bus_unown_name (daemon.owner_id);
  g_clear_handle_id (&daemon.stop_timeout_id, g_source_remove);
  g_hash_table_unref (daemon.callers);
  syncify_context_shutdown (daemon.jobs);
  g_clear_object (&daemon.jobs);
  g_clear_object (&daemon.connection);
  g_dbus_node_info_unref (daemon.introspection);
  g_main_loop_unref (daemon.loop);

  /* No thread of ours is left: only GLib's own (gmain, gdbus) and the idle
   * workers of syncify-glib's pool. The test checks this line. */
  thread_names = describe_threads (&n_threads);
  log_line ("exit %d: %u jobs running, %u threads: %s",
            daemon.exit_status, daemon.n_jobs, n_threads, thread_names);
  return daemon.exit_status;
}
