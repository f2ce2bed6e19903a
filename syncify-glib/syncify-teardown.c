/* syncify-teardown.c: functions run on a context's thread as it shuts down
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-context-private.h"
#include "syncify-private.h"

typedef struct {
  GDestroyNotify func;
  gpointer       data;
} Teardown;

struct _SyncifyTeardownList {
  gint    ref_count;   /* (atomic) */
  GMutex  lock;
  GSList *entries;     /* Teardown, last registered first; protected by @lock */
  gboolean ran;        /* protected by @lock */
};

SyncifyTeardownList *
syncify_teardown_list_new (void)
{
  SyncifyTeardownList *list = g_new0 (SyncifyTeardownList, 1);

  list->ref_count = 1;
  g_mutex_init (&list->lock);
  return list;
}

SyncifyTeardownList *
syncify_teardown_list_ref (SyncifyTeardownList *list)
{
  g_atomic_int_inc (&list->ref_count);
  return list;
}

void
syncify_teardown_list_unref (SyncifyTeardownList *list)
{
  if (!g_atomic_int_dec_and_test (&list->ref_count))
    return;
  /* Every context runs its list in shutdown, which always comes first. */
  g_warn_if_fail (list->entries == NULL);
  g_mutex_clear (&list->lock);
  g_free (list);
}

/* Called in any thread. Returns FALSE, keeping nothing, once the list ran. */
static gboolean
teardown_list_add (SyncifyTeardownList *list,
                   GDestroyNotify       func,
                   gpointer             data)
{
  Teardown *entry;
  gboolean added = FALSE;

  syncify_mutex_lock (&list->lock);
  if (!list->ran)
    {
      entry = g_new (Teardown, 1);
      entry->func = func;
      entry->data = data;
      list->entries = g_slist_prepend (list->entries, entry);
      added = TRUE;
    }
  syncify_mutex_unlock (&list->lock);
  return added;
}

void
syncify_teardown_list_run (SyncifyTeardownList *list)
{
  GSList *entries;

  syncify_mutex_lock (&list->lock);
  entries = g_steal_pointer (&list->entries);
  list->ran = TRUE;
  syncify_mutex_unlock (&list->lock);

  for (GSList *l = entries; l != NULL; l = l->next)
    {
      Teardown *entry = l->data;

      entry->func (entry->data);
      g_free (entry);
    }
  g_slist_free (entries);
}

/**
 * syncify_context_add_teardown: (skip)
 * @self: a `SyncifyContext`
 * @func: the function to run at shutdown
 * @data: the data to pass to @func
 *
 * Registers @func to run as @self shuts down, on the context's own thread:
 * the way to free loop-bound objects (a [class@Gio.DBusConnection], a
 * `SoupSession`) made on a background context where they belong, since
 * after [method@Syncify.Context.shutdown] nothing else runs there.
 *
 * For a background context ([ctor@Syncify.Context.new_thread]) the
 * functions run on its thread, with its main context as the thread-default
 * one, once the operations started there have completed (shutdown cancels
 * them) and before the thread exits; whichever thread calls shutdown, also
 * through the last unref, and also when that is the context's own thread.
 * For a context wrapping an existing main context
 * ([ctor@Syncify.Context.new]), and for a background context whose thread
 * could not be started, they run in shutdown, on the thread that called it.
 *
 * They run last registered first, each exactly once. The loop is not
 * iterated after them: a function must finish its work before it returns
 * (use `_sync` calls, such as [method@Gio.DBusConnection.close_sync], which
 * iterate a context of their own).
 *
 * Once @self is shut down, nothing is registered: this returns %FALSE and
 * @func is never called, so the caller still owns @data.
 *
 * This function is thread-safe.
 *
 * Language bindings use [method@Syncify.Context.add_teardown_object].
 *
 * Returns: %TRUE if @func will run at shutdown, %FALSE if @self was
 *   already shut down
 *
 * Since: 1.0
 */
gboolean
syncify_context_add_teardown (SyncifyContext *self,
                              GDestroyNotify  func,
                              gpointer        data)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), FALSE);
  g_return_val_if_fail (func != NULL, FALSE);

  /* A shutdown that begins after this check closes the list only once it
   * runs it, under the list's lock: either the entry is in it, or the add
   * fails. */
  if (syncify_context_closed (self))
    return FALSE;
  return teardown_list_add (self->teardown, func, data);
}

static void
teardown_object (gpointer data)
{
  GObject *object = data;

  g_object_run_dispose (object);
  g_object_unref (object);
}

/**
 * syncify_context_add_teardown_object:
 * @self: a `SyncifyContext`
 * @object: an object bound to the loop of @self
 *
 * Keeps a reference on @object until @self shuts down, and then, on the
 * context's own thread, runs [method@GObject.Object.run_dispose] on it and
 * drops that reference: the teardown of [method@Syncify.Context.add_teardown]
 * in a form language bindings can use, for an object such as one returned
 * by [method@Syncify.Context.invoke_object]. Disposing drops what the
 * object holds (a `SoupSession` closes its connections); references that
 * remain, such as a binding's wrapper, then only hold memory.
 *
 * |[
 * bg = Syncify.Context.new_thread('http')
 * session = bg.invoke_object(lambda cancellable, data: (True, Soup.Session()))
 * bg.add_teardown_object(session)
 * ...
 * bg.shutdown()   # session is disposed on the 'http' thread
 * ]|
 *
 * This function is thread-safe.
 *
 * Returns: %TRUE if @object will be disposed at shutdown, %FALSE (and
 *   @object is left alone) if @self was already shut down
 *
 * Since: 1.0
 */
gboolean
syncify_context_add_teardown_object (SyncifyContext *self,
                                     GObject        *object)
{
  g_return_val_if_fail (SYNCIFY_IS_CONTEXT (self), FALSE);
  g_return_val_if_fail (G_IS_OBJECT (object), FALSE);

  if (syncify_context_add_teardown (self, teardown_object, g_object_ref (object)))
    return TRUE;
  g_object_unref (object);
  return FALSE;
}
