/* hasher-common.c: the hasher error domain, registered with GDBus
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "hasher-common.h"

static const GDBusErrorEntry hasher_error_entries[] = {
  { HASHER_ERROR_FAILED,        "org.syncify.Hasher.Error.Failed" },
  { HASHER_ERROR_NOT_FOUND,     "org.syncify.Hasher.Error.NotFound" },
  { HASHER_ERROR_ACCESS_DENIED, "org.syncify.Hasher.Error.AccessDenied" },
  { HASHER_ERROR_NOT_SUPPORTED, "org.syncify.Hasher.Error.NotSupported" },
  { HASHER_ERROR_CANCELLED,     "org.syncify.Hasher.Error.Cancelled" },
  { HASHER_ERROR_SHUTTING_DOWN, "org.syncify.Hasher.Error.ShuttingDown" },
};

GQuark
hasher_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("hasher-error-quark", &quark,
                                      hasher_error_entries,
                                      G_N_ELEMENTS (hasher_error_entries));
  return (GQuark) quark;
}
