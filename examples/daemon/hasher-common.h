/* hasher-common.h: names and errors shared by the hasher daemon and its
 * client library
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define HASHER_BUS_NAME     "org.syncify.Hasher"
#define HASHER_OBJECT_PATH  "/org/syncify/Hasher"
#define HASHER_INTERFACE    "org.syncify.Hasher"

/**
 * HASHER_ERROR:
 *
 * The error domain of the hasher service. It is registered with GDBus, so an
 * error the daemon returns with g_dbus_method_invocation_return_gerror()
 * travels as `org.syncify.Hasher.Error.NotFound` (and so on) and comes back
 * to a GDBus client in this domain, with this code.
 */
#define HASHER_ERROR (hasher_error_quark ())

typedef enum {
  HASHER_ERROR_FAILED,         /* org.syncify.Hasher.Error.Failed */
  HASHER_ERROR_NOT_FOUND,      /* org.syncify.Hasher.Error.NotFound */
  HASHER_ERROR_ACCESS_DENIED,  /* org.syncify.Hasher.Error.AccessDenied */
  HASHER_ERROR_NOT_SUPPORTED,  /* org.syncify.Hasher.Error.NotSupported: not a file or a pipe */
  HASHER_ERROR_CANCELLED,      /* org.syncify.Hasher.Error.Cancelled */
  HASHER_ERROR_SHUTTING_DOWN,  /* org.syncify.Hasher.Error.ShuttingDown */
} HasherError;

GQuark hasher_error_quark (void);

G_END_DECLS
