/* syncify-glib.h: the single public include
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#define SYNCIFY_INSIDE
# include <gio/gio.h>
# include <syncify-glib/syncify-version.h>
# include "syncify-types.h"
# include <syncify-glib/syncify-enum-types.h>
# include "syncify-context.h"
# include "syncify-iterator.h"
# include "syncify-operation.h"
#undef SYNCIFY_INSIDE
