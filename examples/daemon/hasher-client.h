/* hasher-client.h: a client library for org.syncify.Hasher, with blocking
 * and asynchronous forms of every operation, all run on one background
 * context
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "hasher-common.h"

G_BEGIN_DECLS

#define HASHER_TYPE_CLIENT (hasher_client_get_type ())
G_DECLARE_FINAL_TYPE (HasherClient, hasher_client, HASHER, CLIENT, GObject)

/* Every function may be called from any thread: blocking ones from a worker,
 * a thread running another loop, or plain main() with no loop at all; the
 * D-Bus traffic of every client runs on one background thread,
 * "hasher-client", shared by all clients and joined when the last one is
 * finalized. Callbacks of the _async functions run in the calling thread's
 * thread-default main context, as for every GIO call.
 *
 * Signals:
 *   progress (const char *path, guint64 bytes_done, guint64 bytes_total):
 *     the daemon's Progress signal for a HashFile call made by this client,
 *     emitted in the thread-default main context of the thread that created
 *     the client (like GDBusProxy's signals).
 */

/* Class-level: connects to the bus at @address (NULL: the session bus) on
 * a private connection. */
HasherClient *hasher_client_new              (const char           *address,
                                              GCancellable         *cancellable,
                                              GError              **error);
void          hasher_client_new_async        (const char           *address,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
HasherClient *hasher_client_new_finish       (GAsyncResult         *result,
                                              GError              **error);

/* Methods. */
char         *hasher_client_hash_file        (HasherClient         *self,
                                              const char           *path,
                                              GCancellable         *cancellable,
                                              GError              **error);
void          hasher_client_hash_file_async  (HasherClient         *self,
                                              const char           *path,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
char         *hasher_client_hash_file_finish (HasherClient         *self,
                                              GAsyncResult         *result,
                                              GError              **error);

GVariant     *hasher_client_get_stats        (HasherClient         *self,
                                              GCancellable         *cancellable,
                                              GError              **error);

gboolean      hasher_client_close            (HasherClient         *self,
                                              GCancellable         *cancellable,
                                              GError              **error);

const char   *hasher_client_get_unique_name  (HasherClient         *self);

G_END_DECLS
