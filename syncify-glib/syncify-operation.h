/* syncify-operation.h: the entry points for language bindings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SYNCIFY_INSIDE) && !defined(SYNCIFY_COMPILATION)
# error "Only <syncify-glib/syncify-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include "syncify-context.h"
#include "syncify-types.h"
#include "syncify-version.h"

G_BEGIN_DECLS

#define SYNCIFY_TYPE_OPERATION (syncify_operation_get_type ())

SYNCIFY_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (SyncifyOperation, syncify_operation, SYNCIFY, OPERATION, GObject)

/**
 * SyncifyOperationStartFunc:
 * @operation: the operation to complete: pass [method@Syncify.Operation.complete]
 *   as the callback of the asynchronous call
 * @cancellable: (nullable): a [class@Gio.Cancellable] to hand to the call
 * @user_data: (closure): the data passed with the function
 *
 * Starts an asynchronous operation, like [callback@Syncify.StartFunc], in a
 * form language bindings can implement: instead of a C callback, it is given
 * an object whose [method@Syncify.Operation.complete] method is the callback.
 *
 * In Python:
 *
 * |[
 * def start(operation, cancellable, data):
 *     file.load_contents_async(cancellable, operation.complete)
 * ]|
 *
 * Since: 1.0
 */
typedef void (*SyncifyOperationStartFunc) (SyncifyOperation *operation,
                                           GCancellable     *cancellable,
                                           gpointer          user_data);

/**
 * SyncifyVariantFunc:
 * @cancellable: (nullable): a [class@Gio.Cancellable] the function should
 *   honour
 * @user_data: (closure): the data passed with the function
 * @error: return location for a [struct@GLib.Error]
 *
 * A blocking function whose result is a [struct@GLib.Variant]: the form of
 * [callback@Syncify.ThreadFunc] for language bindings.
 *
 * Returns: (transfer full) (nullable): the result, or %NULL (with @error
 *   set on failure, unset for a void operation); a floating reference is
 *   sunk
 *
 * Since: 1.0
 */
typedef GVariant *(*SyncifyVariantFunc) (GCancellable  *cancellable,
                                         gpointer       user_data,
                                         GError       **error);

SYNCIFY_AVAILABLE_IN_1_0
void          syncify_operation_complete        (SyncifyOperation    *self,
                                                 GObject             *source_object,
                                                 GAsyncResult        *result);
SYNCIFY_AVAILABLE_IN_1_0
GCancellable *syncify_operation_get_cancellable (SyncifyOperation    *self);
SYNCIFY_AVAILABLE_IN_1_0
gboolean      syncify_operation_is_completed    (SyncifyOperation    *self);

SYNCIFY_AVAILABLE_IN_1_0
void          syncify_context_asyncify_variant        (SyncifyContext            *self,
                                                       SyncifyFlags               flags,
                                                       SyncifyVariantFunc         func,
                                                       gpointer                   user_data,
                                                       GDestroyNotify             user_data_destroy,
                                                       GCancellable              *cancellable,
                                                       GAsyncReadyCallback        callback,
                                                       gpointer                   callback_data);
SYNCIFY_AVAILABLE_IN_1_0
GVariant     *syncify_context_asyncify_variant_finish (SyncifyContext            *self,
                                                       GAsyncResult              *result,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
GVariant     *syncify_context_invoke_variant          (SyncifyContext            *self,
                                                       SyncifyVariantFunc         func,
                                                       gpointer                   user_data,
                                                       GCancellable              *cancellable,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
GAsyncResult *syncify_context_await_operation         (SyncifyContext            *self,
                                                       SyncifyFlags               flags,
                                                       SyncifyOperationStartFunc  start,
                                                       gpointer                   user_data,
                                                       GCancellable              *cancellable,
                                                       GError                   **error);
SYNCIFY_AVAILABLE_IN_1_0
GAsyncResult *syncify_context_await_operation_with_closure (SyncifyContext  *self,
                                                            SyncifyFlags     flags,
                                                            GClosure        *start,
                                                            GCancellable    *cancellable,
                                                            GError         **error);
SYNCIFY_AVAILABLE_IN_1_0
void          syncify_context_await_operation_async   (SyncifyContext            *self,
                                                       SyncifyOperationStartFunc  start,
                                                       gpointer                   user_data,
                                                       GDestroyNotify             user_data_destroy,
                                                       GCancellable              *cancellable,
                                                       GAsyncReadyCallback        callback,
                                                       gpointer                   callback_data);
SYNCIFY_AVAILABLE_IN_1_0
GAsyncResult *syncify_context_await_operation_finish  (SyncifyContext            *self,
                                                       GAsyncResult              *result,
                                                       GError                   **error);

G_END_DECLS
