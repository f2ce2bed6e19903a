/* syncify-cancel.c: the cancellables shutdown must fire, and the fan-in
 * cancellable that follows several others
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "syncify-cancel-private.h"

SyncifyCancelSet *
syncify_cancel_set_new (void)
{
  SyncifyCancelSet *set = g_new0 (SyncifyCancelSet, 1);

  set->ref_count = 1;
  g_mutex_init (&set->lock);
  g_queue_init (&set->entries);
  set->shutdown = g_cancellable_new ();
  return set;
}

SyncifyCancelSet *
syncify_cancel_set_ref (SyncifyCancelSet *set)
{
  g_atomic_int_inc (&set->ref_count);
  return set;
}

void
syncify_cancel_set_unref (SyncifyCancelSet *set)
{
  if (!g_atomic_int_dec_and_test (&set->ref_count))
    return;
  g_assert (set->entries.length == 0);
  g_object_unref (set->shutdown);
  g_mutex_clear (&set->lock);
  g_free (set);
}

void
syncify_cancel_set_track (SyncifyCancelSet   *set,
                          SyncifyCancelEntry *entry,
                          GCancellable       *cancellable)
{
  gboolean closed;

  g_assert (cancellable != set->shutdown);

  entry->cancellable = cancellable;
  entry->link = (GList) { .data = entry };
  syncify_mutex_lock (&set->lock);
  g_queue_push_tail_link (&set->entries, &entry->link);
  /* Closing marks the set before it collects what to cancel under this
   * lock: work registered after that cancels itself. */
  closed = set->closed;
  syncify_mutex_unlock (&set->lock);

  if (closed)
    g_cancellable_cancel (cancellable);
}

void
syncify_cancel_set_untrack (SyncifyCancelSet   *set,
                            SyncifyCancelEntry *entry)
{
  syncify_mutex_lock (&set->lock);
  g_queue_unlink (&set->entries, &entry->link);
  syncify_mutex_unlock (&set->lock);
}

void
syncify_cancel_set_close (SyncifyCancelSet *set)
{
  g_autoptr(GPtrArray) to_cancel = g_ptr_array_new_with_free_func (g_object_unref);

  syncify_mutex_lock (&set->lock);
  set->closed = TRUE;
  for (GList *l = set->entries.head; l != NULL; l = l->next)
    {
      SyncifyCancelEntry *entry = l->data;

      g_ptr_array_add (to_cancel, g_object_ref (entry->cancellable));
    }
  syncify_mutex_unlock (&set->lock);

  /* Outside the lock: handlers may untrack their work. */
  g_cancellable_cancel (set->shutdown);
  for (guint i = 0; i < to_cancel->len; i++)
    g_cancellable_cancel (to_cancel->pdata[i]);
}

static void
chain_forward_cancel (GCancellable *source,
                      gpointer      data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
}

GCancellable *
syncify_chain_init (SyncifyChain *chain,
                    GCancellable *a,
                    GCancellable *b,
                    gboolean      always_new)
{
  memset (chain, 0, sizeof *chain);

  if (a == b)
    b = NULL;

  if (!always_new && (a == NULL || b == NULL))
    return a != NULL ? a : b;

  chain->combined = g_cancellable_new ();
  chain->sources[0] = a;
  chain->sources[1] = b;
  for (guint i = 0; i < 2; i++)
    if (chain->sources[i] != NULL)
      chain->handlers[i] = g_cancellable_connect (chain->sources[i],
                                                  G_CALLBACK (chain_forward_cancel),
                                                  chain->combined, NULL);

  return chain->combined;
}

void
syncify_chain_clear (SyncifyChain *chain)
{
  /* Nothing combined: it holds nothing (one of its callers' cancellables
   * was handed on as it was). */
  if (chain->combined == NULL)
    return;

  for (guint i = 0; i < 2; i++)
    if (chain->sources[i] != NULL && chain->handlers[i] != 0)
      g_cancellable_disconnect (chain->sources[i], chain->handlers[i]);
  g_clear_object (&chain->combined);
  memset (chain, 0, sizeof *chain);
}

GCancellable *
syncify_work_cancellable (SyncifyCancelSet *set,
                          SyncifyChain     *chain,
                          GCancellable     *a,
                          GCancellable     *b)
{
  if (a == set->shutdown)
    a = NULL;
  if (b == set->shutdown)
    b = NULL;

  if (a == NULL && b == NULL)
    {
      memset (chain, 0, sizeof *chain);
      return set->shutdown;
    }

  return syncify_chain_init (chain, a, b, TRUE);
}
