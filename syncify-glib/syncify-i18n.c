/* syncify-i18n.c: the library's text domain, bound on first use
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <libintl.h>

#include "syncify-i18n-private.h"

static void
ensure_domain (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
      bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
      g_once_init_leave (&initialized, 1);
    }
}

const char *
syncify_gettext (const char *msgid)
{
  ensure_domain ();
  return g_dgettext (GETTEXT_PACKAGE, msgid);
}
