/* syncify-inbox-private.h: the inbox, a GSource that runs the work pushed
 * to the owner of a main context
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-graph-private.h"

G_BEGIN_DECLS

typedef struct _SyncifyInbox     SyncifyInbox;
typedef struct _SyncifyInboxItem SyncifyInboxItem;

/* Runs @item on the owner; called from the inbox's dispatch (or by whoever
 * answers a stolen item). The inbox touches @item no more once it called
 * this, as the pool does with its items. */
typedef void (*SyncifyInboxRunFunc) (SyncifyInboxItem *item);

/* An item moves in and out of QUEUED only under the inbox lock. */
enum {
  SYNCIFY_ITEM_IDLE,      /* not in the inbox (yet, or taken out by its cancellable) */
  SYNCIFY_ITEM_QUEUED,    /* in the inbox: a cancellable may still take it out */
  SYNCIFY_ITEM_STARTED,   /* taken out by the owner, or by shutdown to answer it */
  SYNCIFY_ITEM_DONE,      /* (items with a waiter) the waiter may return */
};

/* Embedded first in the work it stands for (a Call). */
struct _SyncifyInboxItem
{
  GList                link;      /* in the inbox queue */
  SyncifyInboxItem    *outer;     /* the item being run when this one started */
  SyncifyInboxRunFunc  run;
  SyncifyThread       *waiter;    /* (nullable): the thread blocked on it */
  gint                 state;     /* (atomic) */
};

/* A new inbox attached to @main_context; the caller owns the reference
 * returned, and destroys it with syncify_inbox_destroy(). If the calling
 * thread owns @main_context, it is its owner from now on. */
SyncifyInbox       *syncify_inbox_new          (GMainContext     *main_context);
SyncifyInbox       *syncify_inbox_ref          (SyncifyInbox     *inbox);
void                syncify_inbox_unref        (SyncifyInbox     *inbox);
/* Detaches @inbox from its main context and drops the caller's reference. */
void                syncify_inbox_destroy      (SyncifyInbox     *inbox);

/* Called in any thread. FALSE if the inbox is closed. */
gboolean            syncify_inbox_push         (SyncifyInbox     *inbox,
                                                SyncifyInboxItem *item);
/* Called in any thread. TRUE if @item was still queued and is now removed. */
gboolean            syncify_inbox_remove       (SyncifyInbox     *inbox,
                                                SyncifyInboxItem *item);
/* Closes @inbox: pushes fail from now on. The items still queued move to
 * @stolen, marked STARTED: they are the caller's to answer. */
void                syncify_inbox_close        (SyncifyInbox     *inbox,
                                                GQueue           *stolen);

/* Whether syncify_inbox_close() was called; any thread. */
gboolean            syncify_inbox_is_closed    (SyncifyInbox     *inbox);
/* The main context the inbox is attached to (not a reference: whoever
 * iterates it keeps it alive). */
GMainContext       *syncify_inbox_get_main_context (SyncifyInbox *inbox);
SyncifyOwnerRecord *syncify_inbox_get_owner_record (SyncifyInbox *inbox);
/* The thread that owns the inbox's main context, or NULL if no live thread
 * has iterated it. */
SyncifyThread      *syncify_inbox_peek_owner   (SyncifyInbox     *inbox);

/* Called on the owner around running @item: while it runs, a wait of the
 * owner lends @item's waiter's slot. */
void                syncify_inbox_enter        (SyncifyInbox     *inbox,
                                                SyncifyInboxItem *item);
void                syncify_inbox_leave        (SyncifyInbox     *inbox,
                                                SyncifyInboxItem *item);

/* Completes an item with a waiter: the waiter may return (and its stack,
 * which holds @item, go away) as soon as the state is published, so
 * nothing may touch @item afterwards. */
void                syncify_inbox_item_done    (SyncifyInboxItem *item);

/* For each SyncifyOwnerRecord of a thread about to block: lends the slots
 * of the workers waiting on calls queued to, or running on, that context. */
void                syncify_inbox_lend_owned_waiters (gpointer record,
                                                      gpointer unused);

/* syncify_wait_begin(), then the lending that goes with blocking: workers
 * waiting on contexts @thread owns cannot be served until its wait ends,
 * which may need jobs of theirs, so their slots are lent. @item: the call
 * a PUSH wait waits on (nullable), answered once its state is DONE. */
static inline gboolean
syncify_block_begin (SyncifyThread    *thread,
                     SyncifyWaitKind   kind,
                     GMainContext     *target,
                     SyncifyNode      *node,
                     SyncifyInboxItem *item,
                     SyncifyWaitState *saved,
                     GError          **error)
{
  return syncify_wait_begin_full (thread, kind, target, node,
                                  item != NULL ? &item->state : NULL, SYNCIFY_ITEM_DONE,
                                  syncify_inbox_lend_owned_waiters, NULL, saved, error);
}

G_END_DECLS
