/* syncify-private.h: what the files above the context share
 *
 * The public API, locks and hand-offs, translations and error builders.
 * The layers below have one header each (syncify-*-private.h); doc/threading.md
 * maps them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "config.h"

#include "syncify-glib.h"
#include "syncify-error-private.h"
#include "syncify-i18n-private.h"
#include "syncify-lock-private.h"
