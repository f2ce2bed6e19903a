/* syncify-binding-private.h: what syncify-operation.c and syncify-binding.c
 * share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "syncify-operation.h"

G_BEGIN_DECLS

/* A binding's function and its data, for the C callback that calls it. One
 * of the function fields is set. */
typedef struct {
  SyncifyOperationStartFunc  start;
  SyncifyVariantFunc         func;
  gpointer                   user_data;
  SyncifyCheckedStartFunc    checked_start;
  SyncifyCheckedVariantFunc  checked_func;
  SyncifyCheckedObjectFunc   object_func;
  GDestroyNotify             user_data_destroy;
  GMainContext              *caller_context;   /* (owned) (nullable): where to free */
} SyncifyBindingWrap;

SyncifyBindingWrap *syncify_binding_wrap_new   (SyncifyOperationStartFunc start,
                                                SyncifyVariantFunc        func,
                                                gpointer                  user_data,
                                                GDestroyNotify            user_data_destroy);
void     syncify_binding_wrap_free             (gpointer                  data);
/* Frees the wrap in its caller_context (where a binding's closure must be
 * freed), or here if that is this thread's or unset. Called in any thread. */
void     syncify_binding_wrap_free_in_caller_context (gpointer            data);

/* The outcome of a binding's checked function that returned @ok and set
 * @local_error (taken): TRUE on success (a stray @local_error dropped);
 * FALSE with *@error set to @local_error, or to the error of a function
 * that failed without saying why. */
gboolean syncify_binding_checked               (gboolean             ok,
                                                GError              *local_error,
                                                GError             **error);

/* syncify-operation.c: an operation for a call whose answer goes to
 * @callback. Called on the thread that starts the call. */
SyncifyOperation *syncify_operation_new_for_call (GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             callback_data);
/* Answers the caller with @error (taken) if it was not answered yet; a late
 * completion is then dropped. Called on the operation's thread. */
void     syncify_operation_answer_error        (SyncifyOperation    *self,
                                                GError              *error);
/* The SyncifyFinishFunc of every operation: the call's own result, or the
 * error it was answered with. */
gpointer syncify_operation_finish_func         (GObject             *source_object,
                                                GAsyncResult        *result,
                                                gpointer             user_data,
                                                GError             **error);

G_END_DECLS
