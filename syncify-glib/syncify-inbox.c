/* syncify-inbox.c: the inbox, a GSource that runs the work pushed to the
 * owner of a main context
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-inbox-private.h"
#include "syncify-pool-private.h"

/* Pushing costs no allocation: the item is linked into the queue, and the
 * owner is woken with g_main_context_wakeup() only when the inbox goes from
 * idle to pending. (g_source_set_ready_time() would also signal the wakeup
 * when the owner resets it in dispatch, since the inbox may recurse, costing
 * a write and a spurious iteration per item.) */
struct _SyncifyInbox {
  GSource             source;     /* first: the inbox is its GSource */
  GMainContext       *main_context; /* owned, while the library holds the
                                     * inbox (see syncify_inbox_unref()) */
  gint                ref_count;  /* (atomic) the library's references: together
                                   * they hold one of the source's */
  gint                pending;    /* (atomic) items were pushed since the last dispatch */
  SyncifyOwnerRecord  owner;      /* the thread that iterates main_context */
  GMutex              lock;
  GQueue              queue;      /* SyncifyInboxItem; protected by @lock */
  SyncifyInboxItem   *running;    /* the innermost item being run, linked to
                                   * the outer ones; only touched by the
                                   * thread that owns the context, which runs
                                   * them and lends their waiters' slots when
                                   * it blocks (an owner change goes through
                                   * the registry lock) */
  gboolean            closed;     /* (atomic): written under @lock */
};

G_STATIC_ASSERT (G_STRUCT_OFFSET (SyncifyInbox, source) == 0);

/* How long one dispatch of the inbox may run items before it yields. */
#define INBOX_BUDGET_US 4000

static gboolean
inbox_prepare (GSource *source,
               gint    *timeout)
{
  SyncifyInbox *inbox = (SyncifyInbox *) source;
  SyncifyThread *me = syncify_thread_self ();

  /* Only the owner iterates: the thread seen here owns the context, between
   * two iterations too, until another thread iterates it or it exits. */
  if G_UNLIKELY (g_atomic_pointer_get (&inbox->owner.owner) != me)
    syncify_owner_record_set (&inbox->owner, me);

  *timeout = -1;
  return g_atomic_int_get (&inbox->pending) != 0;
}

static gboolean
inbox_check (GSource *source)
{
  SyncifyInbox *inbox = (SyncifyInbox *) source;

  return g_atomic_int_get (&inbox->pending) != 0;
}

static gboolean
inbox_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  SyncifyInbox *inbox = (SyncifyInbox *) source;
  gint64 deadline = 0;

  /* Cleared before draining: an item pushed after our last look at the
   * queue sets it again and wakes the context. */
  g_atomic_int_set (&inbox->pending, 0);

  for (guint n = 0; ; n++)
    {
      GList *link;
      SyncifyInboxItem *item = NULL;

      /* A flood of items (progress reports from many workers) must not
       * hold the loop for long: after a few milliseconds, leave the rest
       * for the next iteration, so that other sources get their turn. */
      if ((n & 7) == 7)
        {
          gint64 now = g_get_monotonic_time ();

          if (deadline == 0)
            deadline = now + INBOX_BUDGET_US;
          else if (now >= deadline)
            {
              g_atomic_int_set (&inbox->pending, 1);
              break;
            }
        }

      syncify_mutex_lock (&inbox->lock);
      link = g_queue_pop_head_link (&inbox->queue);
      if (link != NULL)
        {
          item = link->data;
          g_atomic_int_set (&item->state, SYNCIFY_ITEM_STARTED);
        }
      syncify_mutex_unlock (&inbox->lock);

      if (item == NULL)
        break;

      item->run (item);
    }

  return G_SOURCE_CONTINUE;
}

static void
inbox_finalize (GSource *source)
{
  SyncifyInbox *inbox = (SyncifyInbox *) source;

  g_assert (inbox->queue.length == 0);
  syncify_owner_record_fini (&inbox->owner);
  g_mutex_clear (&inbox->lock);
}

static GSourceFuncs inbox_funcs = {
  .prepare = inbox_prepare,
  .check = inbox_check,
  .dispatch = inbox_dispatch,
  .finalize = inbox_finalize,
};

SyncifyInbox *
syncify_inbox_new (GMainContext *main_context)
{
  GSource *source = g_source_new (&inbox_funcs, sizeof (SyncifyInbox));
  SyncifyInbox *inbox = (SyncifyInbox *) source;

  g_mutex_init (&inbox->lock);
  g_queue_init (&inbox->queue);
  inbox->ref_count = 1;
  inbox->main_context = g_main_context_ref (main_context);
  syncify_owner_record_init (&inbox->owner, main_context);
  /* Wrapped by the thread that iterates it, which the inbox has not seen
   * yet: it owns the context from now on. */
  if (g_main_context_is_owner (main_context))
    syncify_owner_record_set (&inbox->owner, syncify_thread_self ());
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_static_name (source, "[syncify] inbox");
  g_source_set_can_recurse (source, TRUE);
  g_source_attach (source, main_context);

  return inbox;
}

SyncifyInbox *
syncify_inbox_ref (SyncifyInbox *inbox)
{
  g_atomic_int_inc (&inbox->ref_count);
  return inbox;
}

/* The last reference may be dropped on any thread, once the context has
 * gone: a waiter's, an answered call's. GLib locks a source's main context
 * when its last reference goes, and a destroyed source may outlive its
 * main context, so the inbox keeps its main context until its source is
 * unreferenced. */
void
syncify_inbox_unref (SyncifyInbox *inbox)
{
  GMainContext *main_context;

  if (!g_atomic_int_dec_and_test (&inbox->ref_count))
    return;
  main_context = inbox->main_context;
  g_source_unref (&inbox->source);
  g_main_context_unref (main_context);
}

void
syncify_inbox_destroy (SyncifyInbox *inbox)
{
  g_source_destroy (&inbox->source);
  syncify_inbox_unref (inbox);
}

gboolean
syncify_inbox_push (SyncifyInbox     *inbox,
                    SyncifyInboxItem *item)
{
  item->link = (GList) { .data = item };

  syncify_mutex_lock (&inbox->lock);
  if (g_atomic_int_get (&inbox->closed))
    {
      syncify_mutex_unlock (&inbox->lock);
      return FALSE;
    }
  g_queue_push_tail_link (&inbox->queue, &item->link);
  g_atomic_int_set (&item->state, SYNCIFY_ITEM_QUEUED);
  syncify_mutex_unlock (&inbox->lock);

  if (g_atomic_int_compare_and_exchange (&inbox->pending, 0, 1))
    g_main_context_wakeup (inbox->main_context);

  return TRUE;
}

gboolean
syncify_inbox_remove (SyncifyInbox     *inbox,
                      SyncifyInboxItem *item)
{
  gboolean removed = FALSE;

  syncify_mutex_lock (&inbox->lock);
  if (g_atomic_int_get (&item->state) == SYNCIFY_ITEM_QUEUED)
    {
      g_queue_unlink (&inbox->queue, &item->link);
      g_atomic_int_set (&item->state, SYNCIFY_ITEM_IDLE);
      removed = TRUE;
    }
  syncify_mutex_unlock (&inbox->lock);

  return removed;
}

void
syncify_inbox_close (SyncifyInbox *inbox,
                     GQueue       *stolen)
{
  syncify_mutex_lock (&inbox->lock);
  g_atomic_int_set (&inbox->closed, TRUE);
  *stolen = inbox->queue;
  g_queue_init (&inbox->queue);
  /* The caller's now: a cancellable firing from here on must leave them. */
  for (GList *l = stolen->head; l != NULL; l = l->next)
    g_atomic_int_set (&((SyncifyInboxItem *) l->data)->state, SYNCIFY_ITEM_STARTED);
  syncify_mutex_unlock (&inbox->lock);
}

gboolean
syncify_inbox_is_closed (SyncifyInbox *inbox)
{
  return g_atomic_int_get (&inbox->closed);
}

GMainContext *
syncify_inbox_get_main_context (SyncifyInbox *inbox)
{
  return inbox->main_context;
}

SyncifyOwnerRecord *
syncify_inbox_get_owner_record (SyncifyInbox *inbox)
{
  return &inbox->owner;
}

SyncifyThread *
syncify_inbox_peek_owner (SyncifyInbox *inbox)
{
  return g_atomic_pointer_get (&inbox->owner.owner);
}

void
syncify_inbox_enter (SyncifyInbox     *inbox,
                     SyncifyInboxItem *item)
{
  item->outer = inbox->running;
  inbox->running = item;
}

void
syncify_inbox_leave (SyncifyInbox     *inbox,
                     SyncifyInboxItem *item)
{
  g_assert (inbox->running == item);
  inbox->running = item->outer;
}

void
syncify_inbox_item_done (SyncifyInboxItem *item)
{
  SyncifyThread *waiter = item->waiter;

  g_atomic_int_set (&item->state, SYNCIFY_ITEM_DONE);
  syncify_thread_signal (waiter);
}

/* Called, under the state lock of the thread about to block, for each
 * context it owns. */
void
syncify_inbox_lend_owned_waiters (gpointer data,
                                  gpointer user_data)
{
  SyncifyOwnerRecord *record = data;
  SyncifyInbox *inbox = (SyncifyInbox *) ((char *) record - G_STRUCT_OFFSET (SyncifyInbox, owner));

  syncify_mutex_lock (&inbox->lock);
  for (GList *l = inbox->queue.head; l != NULL; l = l->next)
    {
      SyncifyInboxItem *item = l->data;

      if (item->waiter != NULL)
        syncify_pool_lend_thread (item->waiter);
    }
  syncify_mutex_unlock (&inbox->lock);
  /* Only this thread, the owner, touches the running list. */
  for (SyncifyInboxItem *item = inbox->running; item != NULL; item = item->outer)
    syncify_pool_lend_thread (item->waiter);
}
