/* syncify-i18n-private.h: the library's translations
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The translation of @msgid in the library's text domain, which is bound
 * on first use (as GLib's ggettext.c does): no entry point has to
 * remember to bind it first. */
const char *syncify_gettext (const char *msgid) G_GNUC_FORMAT (1);

#define _(String) syncify_gettext (String)
#define N_(String) (String)

G_END_DECLS
