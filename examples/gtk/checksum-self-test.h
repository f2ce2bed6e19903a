/* checksum-self-test.h: drives the window as a user would, and checks it
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "checksum-window.h"

G_BEGIN_DECLS

void checksum_self_test_start (ChecksumWindow *window,
                               const char     *folder,
                               const char     *expect,
                               const char     *screenshot,
                               int            *exit_status);

G_END_DECLS
