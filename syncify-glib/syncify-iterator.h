/* syncify-iterator.h: blocking, item-by-item consumption of an asynchronous
 * source of many results
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SYNCIFY_INSIDE) && !defined(SYNCIFY_COMPILATION)
# error "Only <syncify-glib/syncify-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include "syncify-context.h"
#include "syncify-operation.h"
#include "syncify-types.h"
#include <syncify-glib/syncify-version.h>

G_BEGIN_DECLS

#define SYNCIFY_TYPE_ITERATOR (syncify_iterator_get_type ())

SYNCIFY_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (SyncifyIterator, syncify_iterator, SYNCIFY, ITERATOR, GObject)

SYNCIFY_AVAILABLE_IN_1_0
SyncifyIterator *syncify_iterator_new         (SyncifyContext     *context,
                                               SyncifyFlags        flags,
                                               SyncifyStartFunc    next_start,
                                               SyncifyFinishFunc   next_finish,
                                               gpointer            user_data,
                                               GDestroyNotify      user_data_destroy);
SYNCIFY_AVAILABLE_IN_1_0
SyncifyIterator *syncify_iterator_new_checked (SyncifyContext           *context,
                                               SyncifyCheckedObjectFunc  next,
                                               gpointer                  user_data,
                                               GDestroyNotify            user_data_destroy);
SYNCIFY_AVAILABLE_IN_1_0
GObject         *syncify_iterator_next_object (SyncifyIterator    *self,
                                               GCancellable       *cancellable,
                                               GError            **error);
SYNCIFY_AVAILABLE_IN_1_0
gboolean         syncify_iterator_next        (SyncifyIterator    *self,
                                               gpointer           *out_item,
                                               GCancellable       *cancellable,
                                               GError            **error);
SYNCIFY_AVAILABLE_IN_1_0
gboolean         syncify_iterator_is_done     (SyncifyIterator    *self);
SYNCIFY_AVAILABLE_IN_1_0
void             syncify_iterator_close       (SyncifyIterator    *self);
SYNCIFY_AVAILABLE_IN_1_0
SyncifyContext  *syncify_iterator_get_context (SyncifyIterator    *self);

G_END_DECLS
