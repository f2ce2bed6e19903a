/* syncify-graph.c: the wait-for graph that turns would-be deadlocks into
 * SYNCIFY_ERROR_WOULD_DEADLOCK
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "syncify-error-private.h"
#include "syncify-graph-private.h"
#include "syncify-i18n-private.h"

/* The graph's nodes are the threads blocked in the library. A thread has
 * edges:
 * - in a PUSH wait on a context: to the thread that owns the context (its
 *   owner record), if that thread is itself blocked;
 * - in a PRIVATE wait: to each worker running a job that delivers to its
 *   private context (the deliverer index).
 * A cycle search follows these edges from the thread about to block and
 * marks the threads it visits with its own serial number: it costs the part
 * of the graph reachable from that thread (for PUSH waits, the length of the
 * chain), never the number of other blocked threads, and no dead end can
 * hide a cycle.
 *
 * Everything here is protected by the registry lock (syncify-thread.c). */
static GQueue      registry_blocked = G_QUEUE_INIT;  /* SyncifyThread, via blocked_link:
                                                      * those with a wait state */
static GQueue      registry_nodes = G_QUEUE_INIT;    /* SyncifyNode, via link */
/* GMainContext (a thread's private context) -> GQueue of the workers running
 * a job that delivers to it (via their deliver_link) */
static GHashTable *registry_deliverers;
static guint64     search_serial;                     /* the last cycle search */

/* Registry lock held. Inline, not g_queue_*(): every blocking call does
 * one of each. */
static inline void
blocked_add (SyncifyThread *thread)
{
  GList *link = &thread->blocked_link;

  link->next = NULL;
  link->prev = registry_blocked.tail;
  if (registry_blocked.tail != NULL)
    registry_blocked.tail->next = link;
  else
    registry_blocked.head = link;
  registry_blocked.tail = link;
  registry_blocked.length++;
}

static inline void
blocked_remove (SyncifyThread *thread)
{
  GList *link = &thread->blocked_link;

  if (link->prev != NULL)
    link->prev->next = link->next;
  else
    registry_blocked.head = link->next;
  if (link->next != NULL)
    link->next->prev = link->prev;
  else
    registry_blocked.tail = link->prev;
  link->prev = link->next = NULL;
  registry_blocked.length--;
}

/* ------------------------------------------------------------------------ *
 * Nodes
 * ------------------------------------------------------------------------ */

void
syncify_graph_add_node (SyncifyNode *node)
{
  node->link = (GList) { .data = node };
  syncify_registry_lock ();
  g_queue_push_tail_link (&registry_nodes, &node->link);
  syncify_registry_unlock ();
}

void
syncify_graph_remove_node (SyncifyNode *node)
{
  syncify_registry_lock ();
  g_queue_unlink (&registry_nodes, &node->link);
  /* A waiter need not hold a reference on the context it waited on: its
   * call may be answered, and the context finalized, before the waiter
   * ends its wait. Searches must not follow it there any more. */
  for (GList *l = registry_blocked.head; l != NULL; l = l->next)
    {
      SyncifyThread *t = l->data;

      if (t->wait.node == node)
        t->wait.node = NULL;
    }
  syncify_registry_unlock ();
}

char *
syncify_node_describe (const SyncifyNode *node)
{
  /* The default singleton is named "default"; any other name wins. */
  if (node->name != NULL &&
      !(node->main_context == g_main_context_default () &&
        g_strcmp0 (node->name, "default") == 0))
    /* Translators: a piece of a longer message, naming a main context by
     * the name given to it */
    return g_strdup_printf (_("context \"%s\""), node->name);
  if (node->main_context == g_main_context_default ())
    /* Translators: a piece of a longer message, naming a main context
     * (e.g. "thread "main" waits on the default context, …") */
    return g_strdup (_("the default context"));
  /* Translators: a piece of a longer message, naming an unnamed main
   * context by its address */
  return g_strdup_printf (_("context %p"), node->id);
}

void
syncify_graph_deliverer_add (SyncifyThread *worker,
                                GMainContext  *private_context)
{
  GQueue *queue;

  syncify_registry_lock ();
  if (registry_deliverers == NULL)
    registry_deliverers = g_hash_table_new (NULL, NULL);
  queue = g_hash_table_lookup (registry_deliverers, private_context);
  if (queue == NULL)
    {
      queue = g_queue_new ();
      g_hash_table_insert (registry_deliverers, private_context, queue);
    }
  worker->deliver_link.data = worker;
  g_queue_push_tail_link (queue, &worker->deliver_link);
  syncify_registry_unlock ();
}

void
syncify_graph_deliverer_remove (SyncifyThread *worker,
                                   GMainContext  *private_context)
{
  GQueue *queue;

  syncify_registry_lock ();
  queue = g_hash_table_lookup (registry_deliverers, private_context);
  g_queue_unlink (queue, &worker->deliver_link);
  if (queue->length == 0)
    {
      g_hash_table_remove (registry_deliverers, private_context);
      g_queue_free (queue);
    }
  syncify_registry_unlock ();
}

/* Must hold registry_lock. How a GMainContext is named in messages. */
static char *
describe_main_context (GMainContext *main_context,
                       SyncifyNode  *hint)
{
  if (hint != NULL && hint->main_context == main_context)
    return syncify_node_describe (hint);

  if (main_context == g_main_context_default ())
    return g_strdup (_("the default context"));

  /* Only on the error path: it may cost the number of live contexts. */
  for (GList *l = registry_nodes.head; l != NULL; l = l->next)
    {
      SyncifyNode *node = l->data;

      if (node->main_context == main_context)
        return syncify_node_describe (node);
    }

  return g_strdup_printf (_("context %p"), (gpointer) main_context);
}

/* Must hold registry_lock. The owner of what @wait pushes to, if it is
 * itself blocked in the library. */
static SyncifyThread *
blocked_owner (const SyncifyWaitState *wait)
{
  SyncifyOwnerRecord *record;
  SyncifyThread *owner = NULL;

  if (wait->node == NULL)
    return NULL;

  record = wait->node->record;
  if (record != NULL)
    owner = g_atomic_pointer_get (&record->owner);

  if (owner == NULL)
    {
      /* No thread iterates it, yet the pusher found it held. The default
       * context may have been wrapped while its owner was blocked in a
       * dispatch, before its inbox saw an iteration: the blocked threads
       * said whether they held it. Any other context was acquired without
       * being iterated: by the thread that wrapped it, if that one is
       * blocked (the only holder the library can name without testing
       * every live context on every blocking call). */
      if (wait->target == g_main_context_default ())
        {
          for (GList *l = registry_blocked.head; l != NULL; l = l->next)
            {
              SyncifyThread *t = l->data;

              if (t->wait.owns_default)
                return t;
            }
          return NULL;
        }

      /* (A background context is only ever held by its own thread, which
       * is about to iterate it.) */
      if (wait->node->background)
        return NULL;
      if (record == NULL || record->creator == NULL ||
          record->creator->serial != record->creator_serial ||
          record->creator->wait.kind == SYNCIFY_WAIT_NONE)
        return NULL;
      /* Held by anyone at all? */
      if (g_main_context_acquire (wait->target))
        {
          g_main_context_release (wait->target);
          return NULL;
        }
      return record->creator;
    }

  return owner->wait.kind != SYNCIFY_WAIT_NONE ? owner : NULL;
}

typedef struct {
  SyncifyThread *from;
  SyncifyThread *to;
} Edge;

/* A search allocates nothing for paths up to this length. */
#define INLINE_PATH 32

typedef struct {
  guint64 serial;
  Edge  *path;
  guint  n_path;
  guint  size;
  Edge   inline_path[INLINE_PATH];
} Search;

static void
search_init (Search *s)
{
  /* 64 bits: never wraps, so no thread carries a mark that looks current. */
  s->serial = ++search_serial;
  s->path = s->inline_path;
  s->n_path = 0;
  s->size = INLINE_PATH;
}

static void
search_clear (Search *s)
{
  if (s->path != s->inline_path)
    g_free (s->path);
}

static void
search_push_edge (Search        *s,
                  SyncifyThread *from,
                  SyncifyThread *to)
{
  if G_UNLIKELY (s->n_path == s->size)
    {
      Edge *bigger = g_new (Edge, s->size * 2);

      memcpy (bigger, s->path, s->n_path * sizeof (Edge));
      if (s->path != s->inline_path)
        g_free (s->path);
      s->path = bigger;
      s->size *= 2;
    }
  s->path[s->n_path++] = (Edge) { .from = from, .to = to };
}

/* Must hold registry_lock. Depth-first search for a path from @from back to
 * @goal, visiting each thread at most once; on success the path holds its
 * edges in order. */
static gboolean
find_path (SyncifyThread *from,
           SyncifyThread *goal,
           Search        *s)
{
  if (from->search_mark == s->serial)
    return FALSE;
  from->search_mark = s->serial;

  if (from->wait.kind == SYNCIFY_WAIT_PUSH)
    {
      SyncifyThread *owner = blocked_owner (&from->wait);

      if (owner != NULL && owner != from)
        {
          search_push_edge (s, from, owner);
          if (owner == goal || find_path (owner, goal, s))
            return TRUE;
          s->n_path--;
        }
    }
  else if (from->wait.kind == SYNCIFY_WAIT_PRIVATE && registry_deliverers != NULL)
    {
      GQueue *workers = g_hash_table_lookup (registry_deliverers, from->wait.target);

      for (GList *l = workers != NULL ? workers->head : NULL; l != NULL; l = l->next)
        {
          SyncifyThread *worker = l->data;

          if (worker == from)
            continue;
          search_push_edge (s, from, worker);
          if (worker == goal || find_path (worker, goal, s))
            return TRUE;
          s->n_path--;
        }
    }

  return FALSE;
}

/* Must hold registry_lock. */
static char *
describe_cycle (const Search *s)
{
  GString *msg = g_string_new (NULL);

  for (guint i = 0; i < s->n_path; i++)
    {
      const Edge *e = &s->path[i];
      g_autofree char *what = NULL;

      if (i == 0)
        /* Translators: the start of the cycle in a "Waiting would deadlock"
         * message; the pieces below follow it */
        g_string_append_printf (msg, _("thread \"%s\""), e->from->name);
      else
        /* Translators: joins two links of the cycle: "…, owned by thread
         * "bg", which waits on …" */
        g_string_append (msg, _(", which"));

      if (e->from->wait.kind == SYNCIFY_WAIT_PUSH)
        {
          what = describe_main_context (e->from->wait.target, e->from->wait.node);
          /* Translators: a link of the cycle; %s is a context, as named by
           * "the default context" or "context "%s"", then a thread name */
          g_string_append_printf (msg, _(" waits on %s, owned by thread \"%s\""),
                                  what, e->to->name);
        }
      else
        {
          g_string_append_printf (msg,
                                  _(" iterates a private main context until an asyncify job "
                                    "running on thread \"%s\" completes"),
                                  e->to->name);
        }
    }

  return g_string_free (msg, FALSE);
}

gboolean
syncify_wait_begin (SyncifyThread    *thread,
                    SyncifyWaitKind   kind,
                    GMainContext     *target,
                    SyncifyNode      *node,
                    SyncifyWaitState *saved,
                    GError          **error)
{
  return syncify_wait_begin_full (thread, kind, target, node, NULL, NULL, saved, error);
}

gboolean
syncify_wait_begin_full (SyncifyThread    *thread,
                         SyncifyWaitKind   kind,
                         GMainContext     *target,
                         SyncifyNode      *node,
                         GFunc             owned_func,
                         gpointer          owned_data,
                         SyncifyWaitState *saved,
                         GError          **error)
{
  Search search;
  gboolean cycle = FALSE;

  g_assert (kind != SYNCIFY_WAIT_NONE);

  syncify_registry_lock ();

  *saved = thread->wait;
  thread->wait = (SyncifyWaitState) {
    .kind = kind,
    .target = target,
    .node = node,
    /* Only needed while the default context has no owner record. */
    .owns_default = !syncify_owner_record_default_owned_locked () &&
                    g_main_context_is_owner (g_main_context_default ()),
  };
  if (kind == SYNCIFY_WAIT_PUSH)
    {
      SyncifyThread *owner = blocked_owner (&thread->wait);

      thread->wait.owner_blocked = owner != NULL && owner != thread;
    }
  if (saved->kind == SYNCIFY_WAIT_NONE)
    blocked_add (thread);

  /* A private wait cannot close a cycle as it begins: nothing runs for
   * its private context yet. Cycles through it are found by the threads
   * that block later. */
  if (kind == SYNCIFY_WAIT_PUSH)
    {
      search_init (&search);
      cycle = find_path (thread, thread, &search);
    }

  if (cycle)
    {
      g_autofree char *description = describe_cycle (&search);

      search_clear (&search);
      thread->wait = *saved;
      if (saved->kind == SYNCIFY_WAIT_NONE)
        blocked_remove (thread);
      syncify_registry_unlock ();

      syncify_error_would_deadlock (error, description);
      return FALSE;
    }
  if (kind == SYNCIFY_WAIT_PUSH)
    search_clear (&search);

  /* In the same section: one lock per blocking call. */
  if (owned_func != NULL)
    for (GList *l = thread->owned.head; l != NULL; l = l->next)
      owned_func (l->data, owned_data);

  syncify_registry_unlock ();
  return TRUE;
}

void
syncify_wait_end (SyncifyThread    *thread,
                  SyncifyWaitState *saved)
{
  syncify_registry_lock ();
  thread->wait = *saved;
  if (saved->kind == SYNCIFY_WAIT_NONE)
    blocked_remove (thread);
  syncify_registry_unlock ();
}
