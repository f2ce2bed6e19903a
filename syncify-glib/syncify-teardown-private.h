/* syncify-teardown-private.h: the teardown hooks of a context
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The functions registered with syncify_context_add_teardown(), shared by a
 * context and its background thread (reference counted, thread-safe). */
typedef struct _SyncifyTeardownList SyncifyTeardownList;

SyncifyTeardownList *syncify_teardown_list_new   (void);
SyncifyTeardownList *syncify_teardown_list_ref   (SyncifyTeardownList *list);
void                 syncify_teardown_list_unref (SyncifyTeardownList *list);
/* Runs the functions on the calling thread, last registered first, once:
 * later calls, and later additions, find the list closed. */
void                 syncify_teardown_list_run   (SyncifyTeardownList *list);

G_END_DECLS
