/* syncify-version.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-version.h"

guint
syncify_get_major_version (void)
{
  return SYNCIFY_MAJOR_VERSION;
}

guint
syncify_get_minor_version (void)
{
  return SYNCIFY_MINOR_VERSION;
}

guint
syncify_get_micro_version (void)
{
  return SYNCIFY_MICRO_VERSION;
}
