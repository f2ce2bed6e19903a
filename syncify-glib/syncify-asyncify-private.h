/* syncify-asyncify-private.h: asyncify jobs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-context-private.h"

G_BEGIN_DECLS

/* Ends a job that shutdown took out of the pool before it started: it
 * completes with SYNCIFY_ERROR_CLOSED in its caller's context. */
void syncify_job_end_shut_down (SyncifyPoolItem *item);

G_END_DECLS
