/* syncify-objects.c: loop-bound objects for language bindings: made on a
 * context's thread, and torn down there
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-private.h"
#include "syncify-operation.h"
#include "syncify-binding-private.h"

static gpointer
checked_object_func (gpointer       data,
                     GCancellable  *cancellable,
                     GError       **error)
{
  SyncifyBindingWrap *w = data;
  GError *local_error = NULL;
  gboolean ok;
  GObject *result = NULL;

  ok = w->object_func (cancellable, w->user_data, &result, &local_error);
  if (!syncify_binding_checked (ok, local_error, error))
    {
      g_clear_object (&result);
      return NULL;
    }
  if (result != NULL && g_object_is_floating (result))
    g_object_ref_sink (result);
  return result;
}

/**
 * syncify_context_invoke_object:
 * @self: (nullable): the context to run @func on, or %NULL for the calling
 *   worker's context
 * @func: (scope call) (closure user_data): the function to run
 * @user_data: data for @func
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to @func
 * @error: return location for a [struct@GLib.Error]
 *
 * Runs @func on the owner of @self, as
 * [method@Syncify.Context.invoke_checked] does, and returns the object it
 * gives: the way for language bindings to get a loop-bound object (a
 * `SoupSession`, a [class@Gio.DBusConnection]) made on a background context
 * out of it, to use through further calls on that context.
 *
 * Tear such an object down on its own thread with
 * [method@Syncify.Context.dispose_object] before shutting the context down
 * (see the "Loop-bound objects" section of the background contexts page).
 *
 * |[
 * bg = Syncify.Context.new_thread('http')
 * session = bg.invoke_object(lambda cancellable, data: (True, Soup.Session()))
 * ...
 * bg.dispose_object(session)
 * bg.shutdown()
 * ]|
 *
 * |[<!-- language="JavaScript" -->
 * // On a context the script's own thread runs (GJS runs JavaScript there only).
 * const action = context.invoke_object(() => [true, new Gio.SimpleAction({name: 'quit'})], null);
 * ]|
 *
 * Returns: (transfer full) (nullable): the object @func returned, %NULL
 *   for none, or %NULL with @error set
 *
 * Since: 1.0
 */
GObject *
syncify_context_invoke_object (SyncifyContext            *self,
                               SyncifyCheckedObjectFunc   func,
                               gpointer                   user_data,
                               GCancellable              *cancellable,
                               GError                   **error)
{
  SyncifyBindingWrap w = { .object_func = func, .user_data = user_data };

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return syncify_context_invoke_sync (self, checked_object_func, &w, cancellable, error);
}

static gpointer
dispose_func (gpointer       data,
              GCancellable  *cancellable,
              GError       **error)
{
  g_object_run_dispose (data);
  return NULL;
}

/**
 * syncify_context_dispose_object:
 * @self: (nullable): the context that owns @object, or %NULL for the
 *   calling worker's context
 * @object: an object bound to the loop of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Tears @object down on the thread that owns @self: runs
 * [method@GObject.Object.run_dispose] there, and waits for it. Disposing
 * drops what the object holds (a `SoupSession` closes its connections, a
 * [class@Gio.DBusConnection] its worker); the references that remain, such
 * as a binding's wrapper, then only hold memory, which may be freed on any
 * thread.
 *
 * Call it before [method@Syncify.Context.shutdown]: after the shutdown,
 * nothing runs on a background context's thread, and this fails with
 * %SYNCIFY_ERROR_CLOSED without touching @object.
 *
 * Returns: %TRUE once disposed, %FALSE with @error set if it could not run
 *
 * Since: 1.0
 */
gboolean
syncify_context_dispose_object (SyncifyContext  *self,
                                GObject         *object,
                                GError         **error)
{
  GError *local_error = NULL;

  g_return_val_if_fail (self == NULL || SYNCIFY_IS_CONTEXT (self), FALSE);
  g_return_val_if_fail (G_IS_OBJECT (object), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_object_ref (object);
  syncify_context_invoke_sync (self, dispose_func, object, NULL, &local_error);
  g_object_unref (object);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
}
