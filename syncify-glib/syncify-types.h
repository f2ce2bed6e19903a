/* syncify-types.h: callback types, errors and flags
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SYNCIFY_INSIDE) && !defined(SYNCIFY_COMPILATION)
# error "Only <syncify-glib/syncify-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include <syncify-glib/syncify-version.h>

G_BEGIN_DECLS

/**
 * SyncifyThreadFunc:
 * @user_data: (closure): the data passed with the function
 * @cancellable: (nullable): a [class@Gio.Cancellable] the function should
 *   honour, like any `_sync` GIO call
 * @error: return location for a [struct@GLib.Error]
 *
 * A blocking function, shaped like a `_sync` GIO call with @user_data in the
 * place of the object and its arguments.
 *
 * For [method@Syncify.Context.asyncify] it runs in a worker thread; for
 * [method@Syncify.Context.invoke_sync] it runs on the thread that owns the
 * context.
 *
 * Returns: (transfer full) (nullable): the result; %NULL with @error unset is
 *   a valid success (a void operation)
 *
 * Since: 1.0
 */
typedef gpointer (*SyncifyThreadFunc) (gpointer       user_data,
                                       GCancellable  *cancellable,
                                       GError       **error);

/**
 * SyncifyStartFunc:
 * @user_data: (closure): the data passed with the function
 * @cancellable: (nullable): a [class@Gio.Cancellable] to hand to the
 *   operation
 * @callback: (scope async): the callback to pass to the operation
 * @callback_data: the data to pass to @callback
 *
 * Starts an asynchronous operation, shaped like an `_async` GIO call with
 * @user_data in the place of the object and its arguments. It must arrange
 * for @callback to be called exactly once, in the thread-default main context
 * of the thread that called it, as every GIO asynchronous call does.
 *
 * Since: 1.0
 */
typedef void (*SyncifyStartFunc) (gpointer             user_data,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             callback_data);

/**
 * SyncifyFinishFunc:
 * @source_object: (nullable) (type GObject): the source object of the
 *   operation, as passed to its [callback@Gio.AsyncReadyCallback]
 * @result: the [iface@Gio.AsyncResult] of the operation
 * @user_data: (closure): the data passed with the function
 * @error: return location for a [struct@GLib.Error]
 *
 * Completes an asynchronous operation, like a
 * [callback@Gio.AsyncReadyCallback] that calls the operation's `_finish`
 * function. It runs in the completion callback, on the thread that started
 * the operation.
 *
 * Returns: (transfer full) (nullable): the result; %NULL with @error unset is
 *   a valid success (a void operation)
 *
 * Since: 1.0
 */
typedef gpointer (*SyncifyFinishFunc) (GObject       *source_object,
                                       GAsyncResult  *result,
                                       gpointer       user_data,
                                       GError       **error);

/**
 * SYNCIFY_ERROR:
 *
 * The error domain of syncify-glib's runtime errors, see
 * [error@Syncify.Error].
 *
 * Since: 1.0
 */
#define SYNCIFY_ERROR (syncify_error_quark ())

/**
 * SyncifyError:
 * @SYNCIFY_ERROR_NOT_IN_WORKER: a blocking call found no other thread running
 *   the target context, and %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT was not given
 * @SYNCIFY_ERROR_WOULD_DEADLOCK: the thread that must run the operation is
 *   itself waiting, directly or through a chain of other threads, on the
 *   caller; the message names the cycle
 * @SYNCIFY_ERROR_CLOSED: the context was shut down
 *
 * Runtime errors of syncify-glib, in the %SYNCIFY_ERROR domain.
 *
 * Since: 1.0
 */
typedef enum {
  SYNCIFY_ERROR_NOT_IN_WORKER,
  SYNCIFY_ERROR_WOULD_DEADLOCK,
  SYNCIFY_ERROR_CLOSED,
} SyncifyError;

/**
 * SyncifyFlags:
 * @SYNCIFY_FLAGS_NONE: no flags
 * @SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT: for syncify: when no other thread runs
 *   the target context, run the operation on the calling thread by iterating a
 *   private [struct@GLib.MainContext] (reused by later calls on the same
 *   thread) instead of failing with %SYNCIFY_ERROR_NOT_IN_WORKER; the
 *   counterpart of Asyncer's `syncify(raise_sync_error=False)`
 * @SYNCIFY_FLAGS_ABANDON_ON_CANCEL: for asyncify: when the cancellable fires,
 *   complete at once with %G_IO_ERROR_CANCELLED; the worker keeps running, and
 *   its late result is freed with the result destroy notify
 *
 * Flags for [method@Syncify.Context.asyncify] and
 * [method@Syncify.Context.syncify].
 *
 * Since: 1.0
 */
typedef enum /*< flags >*/ {
  SYNCIFY_FLAGS_NONE                  = 0,
  SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT = 1 << 0,
  SYNCIFY_FLAGS_ABANDON_ON_CANCEL     = 1 << 1,
} SyncifyFlags;

SYNCIFY_AVAILABLE_IN_1_0
GQuark syncify_error_quark (void);

G_END_DECLS
