/* syncify-context.h: SyncifyContext, the crossing between blocking code and
 * GIO asynchronous code
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SYNCIFY_INSIDE) && !defined(SYNCIFY_COMPILATION)
# error "Only <syncify-glib/syncify-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include "syncify-types.h"
#include <syncify-glib/syncify-version.h>

G_BEGIN_DECLS

#define SYNCIFY_TYPE_CONTEXT (syncify_context_get_type ())

SYNCIFY_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (SyncifyContext, syncify_context, SYNCIFY, CONTEXT, GObject)

SYNCIFY_AVAILABLE_IN_1_0
SyncifyContext *syncify_context_new              (GMainContext   *main_context);
SYNCIFY_AVAILABLE_IN_1_0
SyncifyContext *syncify_context_new_thread       (const char     *name);
SYNCIFY_AVAILABLE_IN_1_0
SyncifyContext *syncify_context_try_new_thread   (const char     *name,
                                                  GError        **error);
SYNCIFY_AVAILABLE_IN_1_0
SyncifyContext *syncify_context_get_default      (void);
SYNCIFY_AVAILABLE_IN_1_0
SyncifyContext *syncify_context_get_current      (void);
SYNCIFY_AVAILABLE_IN_1_0
GMainContext   *syncify_context_get_main_context (SyncifyContext *self);
SYNCIFY_AVAILABLE_IN_1_0
const char     *syncify_context_get_name         (SyncifyContext *self);
SYNCIFY_AVAILABLE_IN_1_0
guint           syncify_context_get_max_workers  (SyncifyContext *self);
SYNCIFY_AVAILABLE_IN_1_0
void            syncify_context_set_max_workers  (SyncifyContext *self,
                                                  guint           max_workers);
SYNCIFY_AVAILABLE_IN_1_0
gboolean        syncify_context_is_closed        (SyncifyContext *self);
SYNCIFY_AVAILABLE_IN_1_0
void            syncify_context_shutdown         (SyncifyContext *self);
SYNCIFY_AVAILABLE_IN_1_0
gboolean        syncify_context_add_teardown     (SyncifyContext *self,
                                                  GDestroyNotify  func,
                                                  gpointer        data);
SYNCIFY_AVAILABLE_IN_1_0
gboolean        syncify_context_add_teardown_object (SyncifyContext *self,
                                                     GObject        *object);

SYNCIFY_AVAILABLE_IN_1_0
void            syncify_context_asyncify         (SyncifyContext      *self,
                                                  SyncifyFlags         flags,
                                                  SyncifyThreadFunc    func,
                                                  gpointer             user_data,
                                                  GDestroyNotify       user_data_destroy,
                                                  GDestroyNotify       result_destroy,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             callback_data);
SYNCIFY_AVAILABLE_IN_1_0
gpointer        syncify_context_asyncify_finish  (SyncifyContext      *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

SYNCIFY_AVAILABLE_IN_1_0
gpointer        syncify_context_syncify          (SyncifyContext      *self,
                                                  SyncifyFlags         flags,
                                                  SyncifyStartFunc     start,
                                                  SyncifyFinishFunc    finish,
                                                  gpointer             user_data,
                                                  GCancellable        *cancellable,
                                                  GError             **error);

SYNCIFY_AVAILABLE_IN_1_0
gpointer        syncify_context_invoke_sync      (SyncifyContext      *self,
                                                  SyncifyThreadFunc    func,
                                                  gpointer             user_data,
                                                  GCancellable        *cancellable,
                                                  GError             **error);

SYNCIFY_AVAILABLE_IN_1_0
void            syncify_context_call_async       (SyncifyContext      *self,
                                                  SyncifyStartFunc     start,
                                                  SyncifyFinishFunc    finish,
                                                  gpointer             user_data,
                                                  GDestroyNotify       user_data_destroy,
                                                  GDestroyNotify       result_destroy,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             callback_data);
SYNCIFY_AVAILABLE_IN_1_0
gpointer        syncify_context_call_finish      (SyncifyContext      *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

SYNCIFY_AVAILABLE_IN_1_0
GAsyncResult   *syncify_context_await            (SyncifyContext      *self,
                                                  SyncifyFlags         flags,
                                                  SyncifyStartFunc     start,
                                                  gpointer             user_data,
                                                  GCancellable        *cancellable,
                                                  GError             **error);
SYNCIFY_AVAILABLE_IN_1_0
void            syncify_context_await_async      (SyncifyContext      *self,
                                                  SyncifyStartFunc     start,
                                                  gpointer             user_data,
                                                  GDestroyNotify       user_data_destroy,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             callback_data);
SYNCIFY_AVAILABLE_IN_1_0
GAsyncResult   *syncify_context_await_finish     (SyncifyContext      *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);
SYNCIFY_AVAILABLE_IN_1_0
void            syncify_await_full_async         (SyncifyContext      *context,
                                                  gpointer             source_object,
                                                  gpointer             source_tag,
                                                  SyncifyStartFunc     start,
                                                  SyncifyFinishFunc    finish,
                                                  gpointer             user_data,
                                                  GDestroyNotify       user_data_destroy,
                                                  GDestroyNotify       result_destroy,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             callback_data);
SYNCIFY_AVAILABLE_IN_1_0
gpointer        syncify_await_full_finish        (GAsyncResult        *result,
                                                  GError             **error);

/**
 * SYNCIFY_DEFINE_START_FUNC:
 * @func_name: the name of the [callback@Syncify.StartFunc] to define
 * @ArgsType: the type of the structure the user data points to
 * @async_call: the `_async` call to make, which may use `args` (a pointer
 *   to @ArgsType), `cancellable`, `callback` and `callback_data`
 *
 * Defines a static [callback@Syncify.StartFunc] that starts @async_call: the
 * one adapter needed to hand an existing `_async` function to
 * [method@Syncify.Context.await] or [method@Syncify.Context.await_async].
 *
 * |[<!-- language="C" -->
 * typedef struct { MyClient *self; const char *name; } PingArgs;
 *
 * SYNCIFY_DEFINE_START_FUNC (ping_start, PingArgs,
 *                            my_client_ping_async (args->self, args->name,
 *                                                  cancellable, callback, callback_data))
 *
 * char *
 * my_client_ping (MyClient *self, const char *name, GCancellable *cancellable, GError **error)
 * {
 *   PingArgs args = { self, name };
 *   g_autoptr(GAsyncResult) result = syncify_context_await (self->context, SYNCIFY_FLAGS_NONE,
 *                                                           ping_start, &args, cancellable, error);
 *   return result ? my_client_ping_finish (self, result, error) : NULL;
 * }
 * ]|
 *
 * Since: 1.0
 */
#define SYNCIFY_DEFINE_START_FUNC(func_name, ArgsType, async_call) \
  static void \
  func_name (gpointer             _syncify_user_data, \
             GCancellable        *cancellable, \
             GAsyncReadyCallback  callback, \
             gpointer             callback_data) \
  { \
    ArgsType *args = (ArgsType *) _syncify_user_data; \
    (void) args; \
    (void) cancellable; /* unused by calls that take no cancellable */ \
    async_call; \
  }

G_END_DECLS
