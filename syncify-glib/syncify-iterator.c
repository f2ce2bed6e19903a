/* syncify-iterator.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SyncifyIterator:
 *
 * Blocking code consumes an asynchronous source of many results item by
 * item: the C counterpart of Flyte turning an async generator into a sync
 * iterator.
 *
 * Each call to [method@Syncify.Iterator.next] runs the source's "next"
 * operation once through [method@Syncify.Context.syncify] (one round trip to
 * the context's owner, or the private-context path with
 * %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT); the finish function returns the item,
 * or %NULL without an error at the end.
 *
 * Stopping early is safe: [method@Syncify.Iterator.close] (also run when the
 * last reference is dropped) frees the source's state with its destroy notify
 * on the context's owner, where loop-bound objects such as a
 * [class@Gio.FileEnumerator] created there belong.
 *
 * |[<!-- language="C" -->
 * g_autoptr(SyncifyIterator) it = syncify_iterator_new (bg, SYNCIFY_FLAGS_NONE,
 *                                                      next_start, next_finish,
 *                                                      state, state_free);
 * gpointer item;
 *
 * while (syncify_iterator_next (it, &item, cancellable, &error))
 *   consume (item);
 * ]|
 *
 * Language bindings make one with [ctor@Syncify.Iterator.new_checked], from
 * a function that returns the next object (run on the context's owner),
 * and call [method@Syncify.Iterator.next_object]. In Python:
 *
 * |[
 * it = Syncify.Iterator.new_checked(bg, lambda cancellable, data: (True, enumerator.next_file(cancellable)))
 * while (info := it.next_object(None)) is not None:
 *     print(info.get_name())
 * it.close()
 * ]|
 *
 * An iterator is meant to be used by one thread at a time.
 *
 * Since: 1.0
 */

#include "config.h"

#include "syncify-private.h"
#include "syncify-iterator.h"

struct _SyncifyIterator
{
  GObject             parent_instance;

  SyncifyContext     *context;            /* (owned) (nullable) */
  SyncifyFlags        flags;
  SyncifyStartFunc    next_start;
  SyncifyFinishFunc   next_finish;
  SyncifyCheckedObjectFunc next_object;   /* bindable form, instead of the two above */
  gpointer            user_data;          /* (owned) until closed */
  GDestroyNotify      user_data_destroy;
  gboolean            done;
  gboolean            closed;
};

G_DEFINE_FINAL_TYPE (SyncifyIterator, syncify_iterator, G_TYPE_OBJECT)

static void
syncify_iterator_dispose (GObject *object)
{
  syncify_iterator_close (SYNCIFY_ITERATOR (object));

  G_OBJECT_CLASS (syncify_iterator_parent_class)->dispose (object);
}

static void
syncify_iterator_finalize (GObject *object)
{
  SyncifyIterator *self = SYNCIFY_ITERATOR (object);

  g_clear_object (&self->context);

  G_OBJECT_CLASS (syncify_iterator_parent_class)->finalize (object);
}

static void
syncify_iterator_class_init (SyncifyIteratorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = syncify_iterator_dispose;
  object_class->finalize = syncify_iterator_finalize;
}

static void
syncify_iterator_init (SyncifyIterator *self)
{
}

/**
 * syncify_iterator_new: (skip)
 * @context: (nullable): the context that owns the source, or %NULL for the
 *   calling worker's context
 * @flags: flags for [method@Syncify.Context.syncify], such as
 *   %SYNCIFY_FLAGS_ALLOW_PRIVATE_CONTEXT
 * @next_start: (scope notified) (closure user_data): starts fetching the next
 *   item, like an `_async` GIO call
 * @next_finish: (scope notified) (closure user_data): completes it, returning
 *   the item (transfer full), or %NULL without an error at the end
 * @user_data: the source's state, handed to both functions
 * @user_data_destroy: (nullable): frees @user_data, on the context's owner,
 *   when the iterator is closed
 *
 * Creates an iterator over the items produced by repeatedly running
 * @next_start and @next_finish.
 *
 * Returns: (transfer full): a new `SyncifyIterator`
 *
 * Language bindings use a generator or loop over [method@Syncify.Context.await_operation] instead.
 *
 * Since: 1.0
 */
SyncifyIterator *
syncify_iterator_new (SyncifyContext    *context,
                      SyncifyFlags       flags,
                      SyncifyStartFunc   next_start,
                      SyncifyFinishFunc  next_finish,
                      gpointer           user_data,
                      GDestroyNotify     user_data_destroy)
{
  SyncifyIterator *self;

  g_return_val_if_fail (context == NULL || SYNCIFY_IS_CONTEXT (context), NULL);
  g_return_val_if_fail (next_start != NULL, NULL);
  g_return_val_if_fail (next_finish != NULL, NULL);

  if (context == NULL)
    context = syncify_context_get_current ();

  self = g_object_new (SYNCIFY_TYPE_ITERATOR, NULL);
  self->context = context != NULL ? g_object_ref (context) : NULL;
  self->flags = flags;
  self->next_start = next_start;
  self->next_finish = next_finish;
  self->user_data = user_data;
  self->user_data_destroy = user_data_destroy;

  return self;
}

/**
 * syncify_iterator_new_checked:
 * @context: (nullable): the context to run @next on, or %NULL for the
 *   calling worker's context (or, outside workers, the calling thread)
 * @next: (scope notified) (closure user_data) (destroy user_data_destroy):
 *   returns the next item, or %NULL (with %TRUE) at the end
 * @user_data: the source's state, handed to @next
 * @user_data_destroy: (nullable): frees @user_data, on the context's owner,
 *   when the iterator is closed
 *
 * Creates an iterator whose items are objects, each returned by one call of
 * @next on the owner of @context (as [method@Syncify.Context.invoke_object]
 * runs a function): the form of `syncify_iterator_new()` for language
 * bindings, used with [method@Syncify.Iterator.next_object]. @next may use
 * loop-bound objects that live on @context's thread, such as a
 * [class@Gio.FileEnumerator] made there. A function that fails (returns
 * %FALSE, or raises in a binding) fails that call of
 * [method@Syncify.Iterator.next_object]; a later call tries again.
 *
 * Returns: (transfer full): a new `SyncifyIterator`
 *
 * Since: 1.0
 */
SyncifyIterator *
syncify_iterator_new_checked (SyncifyContext           *context,
                              SyncifyCheckedObjectFunc  next,
                              gpointer                  user_data,
                              GDestroyNotify            user_data_destroy)
{
  SyncifyIterator *self;

  g_return_val_if_fail (context == NULL || SYNCIFY_IS_CONTEXT (context), NULL);
  g_return_val_if_fail (next != NULL, NULL);

  if (context == NULL)
    context = syncify_context_get_current ();

  self = g_object_new (SYNCIFY_TYPE_ITERATOR, NULL);
  self->context = context != NULL ? g_object_ref (context) : NULL;
  self->next_object = next;
  self->user_data = user_data;
  self->user_data_destroy = user_data_destroy;

  return self;
}

/* Called on the iterating thread. Returns the next item, or NULL at the end
 * (error unset) or on an error. */
static gpointer
iterator_fetch (SyncifyIterator  *self,
                GCancellable     *cancellable,
                GError          **error)
{
  if (self->next_object != NULL)
    return syncify_context_invoke_object (self->context, self->next_object, self->user_data,
                                          cancellable, error);
  if (self->next_start == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                           _("The iterator was created without a source"));
      return NULL;
    }
  return syncify_context_syncify (self->context, self->flags,
                                  self->next_start, self->next_finish,
                                  self->user_data, cancellable, error);
}

/**
 * syncify_iterator_get_context:
 * @self: a `SyncifyIterator`
 *
 * Gets the context the iterator's operations run on.
 *
 * Returns: (transfer none) (nullable): the context, or %NULL if the iterator
 *   runs on the calling thread's private context
 *
 * Since: 1.0
 */
SyncifyContext *
syncify_iterator_get_context (SyncifyIterator *self)
{
  g_return_val_if_fail (SYNCIFY_IS_ITERATOR (self), NULL);

  return self->context;
}

/**
 * syncify_iterator_next: (skip)
 * @self: a `SyncifyIterator`
 * @out_item: (out) (optional) (transfer full) (nullable): return location for
 *   the item
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to the "next"
 *   operation
 * @error: return location for a [struct@GLib.Error]
 *
 * Blocks until the next item is available, as
 * [method@Syncify.Context.syncify] does: one round trip per item.
 *
 * Returns: %TRUE with *@out_item set to the item; %FALSE at the end (without
 *   an error: every later call also returns %FALSE) or on an error (a later
 *   call tries again)
 *
 * Language bindings use [method@Syncify.Iterator.next_object] instead.
 *
 * Since: 1.0
 */
gboolean
syncify_iterator_next (SyncifyIterator  *self,
                       gpointer         *out_item,
                       GCancellable     *cancellable,
                       GError          **error)
{
  GError *local_error = NULL;
  gpointer item;

  g_return_val_if_fail (SYNCIFY_IS_ITERATOR (self), FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (out_item != NULL)
    *out_item = NULL;

  if (self->done || self->closed)
    return FALSE;

  item = iterator_fetch (self, cancellable, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }

  if (item == NULL)
    {
      self->done = TRUE;
      return FALSE;
    }

  if (out_item != NULL)
    *out_item = item;
  else
    g_warning ("syncify_iterator_next() was given no place for the item; it is leaked");

  return TRUE;
}

/**
 * syncify_iterator_next_object:
 * @self: a `SyncifyIterator` made with [ctor@Syncify.Iterator.new_checked]
 * @cancellable: (nullable): a [class@Gio.Cancellable] handed to the "next"
 *   function
 * @error: return location for a [struct@GLib.Error]
 *
 * Blocks until the next item is available and returns it: the form of
 * [method@Syncify.Iterator.next] for language bindings. At the end it
 * returns %NULL without an error, as does every later call; on an error it
 * returns %NULL with @error set, and a later call tries again. An iterator
 * made without a source fails with %G_IO_ERROR_NOT_INITIALIZED.
 *
 * Returns: (transfer full) (nullable): the next item, or %NULL
 *
 * Since: 1.0
 */
GObject *
syncify_iterator_next_object (SyncifyIterator  *self,
                              GCancellable     *cancellable,
                              GError          **error)
{
  gpointer item = NULL;

  g_return_val_if_fail (SYNCIFY_IS_ITERATOR (self), NULL);
  g_return_val_if_fail (self->next_start == NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (syncify_iterator_next (self, &item, cancellable, error))
    return item;
  return NULL;
}

/**
 * syncify_iterator_is_done:
 * @self: a `SyncifyIterator`
 *
 * Whether the end was reached or the iterator closed.
 *
 * Returns: %TRUE if [method@Syncify.Iterator.next] will return no more items
 *
 * Since: 1.0
 */
gboolean
syncify_iterator_is_done (SyncifyIterator *self)
{
  g_return_val_if_fail (SYNCIFY_IS_ITERATOR (self), TRUE);

  return self->done || self->closed;
}

static gpointer
run_destroy (gpointer       data,
             GCancellable  *cancellable,
             GError       **error)
{
  SyncifyIterator *self = data;

  self->user_data_destroy (g_steal_pointer (&self->user_data));
  return NULL;
}

/**
 * syncify_iterator_close:
 * @self: a `SyncifyIterator`
 *
 * Stops the iteration and frees the source's state with its destroy notify,
 * on the context's owner (pushed there and waited for, as
 * [method@Syncify.Context.invoke_sync] does; on the calling thread if the
 * context was shut down or cannot be reached without a deadlock). Later
 * calls to [method@Syncify.Iterator.next] return %FALSE. Calling it again
 * does nothing; it also runs when the last reference is dropped.
 *
 * Since: 1.0
 */
void
syncify_iterator_close (SyncifyIterator *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (SYNCIFY_IS_ITERATOR (self));

  if (self->closed)
    return;
  self->closed = TRUE;

  if (self->user_data_destroy == NULL)
    return;

  syncify_context_invoke_sync (self->context, run_destroy, self, NULL, &error);
  if (error != NULL)
    {
      g_debug ("Freeing an iterator's state on the calling thread: %s", error->message);
      if (self->user_data != NULL)
        run_destroy (self, NULL, NULL);
    }
}
