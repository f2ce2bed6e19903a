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
 * A PUSH wait that is answered (its done word says so) has no edge.
 *
 * A thread about to block publishes its wait state under its own state
 * lock, sets its blocked word, then reads the blocked word of the owner of
 * what it waits on. If that owner is known and not blocked (the common
 * case), no cycle can pass through this thread yet, and it blocks without
 * taking the registry lock: any thread that later closes a cycle through it
 * sees it blocked (both sides store their word before they load the
 * other's) and searches. Otherwise (the owner is blocked, or not known, or
 * this thread holds a default context with no owner recorded) it searches,
 * under the registry lock, which also keeps every owner record still. The
 * search follows the edges from the thread about to block and marks the
 * threads it visits with its own serial number: it costs the part of the graph reachable from that thread (for
 * PUSH waits, the length of the chain), never the number of other blocked
 * threads, and no dead end can hide a cycle. Threads on the way are read
 * one by one under their state locks while they may change; a cycle found
 * is checked again before it is reported (every wait on it still the one
 * read, by its serial, and still not answered, as an answer is never taken
 * back), so that it existed at one moment, all of it.
 *
 * The indexes below are protected by the registry lock (syncify-thread.c). */
static GQueue      registry_blocked = G_QUEUE_INIT;  /* SyncifyThread, via blocked_link:
                                                      * those blocked while holding
                                                      * the default context */
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
  /* A waiter need not hold a reference on the context it waits on: its
   * call may be answered, and the context finalized, before the waiter
   * ends its wait. Its wait keeps what searches follow (the owner record,
   * in the inbox it holds), and messages look the node up by that record. */
  syncify_registry_lock ();
  g_queue_unlink (&registry_nodes, &node->link);
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

/* Must hold registry_lock. How a GMainContext is named in messages: by the
 * live node with owner record @record (only compared: the context may have
 * gone), else by the first live node wrapping it. Only on the error path:
 * it may cost the number of live contexts. */
static char *
describe_main_context (GMainContext             *main_context,
                       const SyncifyOwnerRecord *record)
{
  for (GList *l = record != NULL ? registry_nodes.head : NULL; l != NULL; l = l->next)
    {
      SyncifyNode *node = l->data;

      if (node->record == record && node->main_context == main_context)
        return syncify_node_describe (node);
    }

  if (main_context == g_main_context_default ())
    return g_strdup (_("the default context"));

  for (GList *l = registry_nodes.head; l != NULL; l = l->next)
    {
      SyncifyNode *node = l->data;

      if (node->main_context == main_context)
        return syncify_node_describe (node);
    }

  return g_strdup_printf (_("context %p"), (gpointer) main_context);
}

/* Whether @wait (a PUSH wait) has been answered: it then waits on nobody.
 * Its done word lives as long as the wait (on the waiter's stack): read by
 * the waiter, or under its state lock. */
static inline gboolean
wait_answered (const SyncifyWaitState *wait)
{
  return wait->done_word != NULL &&
         g_atomic_int_get ((gint *) wait->done_word) == wait->done_value;
}

static SyncifyThread *blocked_owner (const SyncifyWaitState *wait,
                                     SyncifyThread          *locked);

/* The thread that owns what @wait (a PUSH wait) is on, as its record says
 * now; NULL if it is not known. Read by the waiter, or under its state
 * lock (the record lives as long as the wait). */
static inline SyncifyThread *
wait_owner_now (const SyncifyWaitState *wait)
{
  return wait->record != NULL ? g_atomic_pointer_get (&wait->record->owner) : NULL;
}

/* What the search reads of a thread: its wait state, and for a PUSH wait
 * the thread it waits on, all under its state lock (what the wait points
 * to lives as long as the wait). Must hold registry_lock. */
typedef struct {
  SyncifyWaitState  wait;
  guint64           serial;
  SyncifyThread    *owner;   /* PUSH: the blocked owner of its target, if any */
} Snapshot;

/* For the unit tests: called before a search reads each thread. */
static void     (*search_hook) (SyncifyThread *thread,
                                gpointer       data);
static gpointer   search_hook_data;

guint
syncify_graph_n_listed (void)
{
  guint n;

  syncify_registry_lock ();
  n = registry_blocked.length;
  syncify_registry_unlock ();
  return n;
}

void
syncify_graph_set_search_hook (void     (*hook) (SyncifyThread *thread,
                                                 gpointer       data),
                               gpointer   data)
{
  syncify_registry_lock ();
  search_hook = hook;
  search_hook_data = data;
  syncify_registry_unlock ();
}

static void
snapshot_take (SyncifyThread *thread,
               Snapshot      *snap)
{
  if G_UNLIKELY (search_hook != NULL)
    search_hook (thread, search_hook_data);

  syncify_mutex_lock (&thread->state_lock);
  snap->wait = thread->wait;
  snap->serial = thread->wait_serial;
  snap->owner = blocked_owner (&thread->wait, thread);
  syncify_mutex_unlock (&thread->state_lock);
}

/* Must hold registry_lock, and, unless @wait is the calling thread's own,
 * the waiter's state lock (then @locked is the waiter). The owner of what
 * @wait pushes to, if it is itself blocked in the library. */
static SyncifyThread *
blocked_owner (const SyncifyWaitState *wait,
               SyncifyThread          *locked)
{
  SyncifyOwnerRecord *record = wait->record;
  SyncifyThread *owner;

  if (wait->kind != SYNCIFY_WAIT_PUSH || wait_answered (wait))
    return NULL;

  owner = wait_owner_now (wait);
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
          /* (Under the registry lock, only one thread holds two state
           * locks at once.) */
          for (GList *l = registry_blocked.head; l != NULL; l = l->next)
            {
              SyncifyThread *t = l->data;
              gboolean owns;

              if (t == locked)
                owns = t->wait.owns_default;
              else
                {
                  syncify_mutex_lock (&t->state_lock);
                  owns = t->wait.owns_default;
                  syncify_mutex_unlock (&t->state_lock);
                }
              if (owns)
                return t;
            }
          return NULL;
        }

      /* (A background context is only ever held by its own thread, which
       * is about to iterate it.) */
      if (wait->background)
        return NULL;
      if (record == NULL || record->creator == NULL ||
          record->creator->serial != record->creator_serial ||
          !g_atomic_int_get (&record->creator->blocked))
        return NULL;
      /* Held by anyone at all? (The waiter holds the inbox, which keeps
       * its main context.) */
      if (g_main_context_acquire (wait->target))
        {
          g_main_context_release (wait->target);
          return NULL;
        }
      return record->creator;
    }

  return g_atomic_int_get (&owner->blocked) ? owner : NULL;
}

typedef struct {
  SyncifyThread    *from;
  SyncifyThread    *to;
  SyncifyWaitState  wait;     /* @from's, as read */
  guint64           serial;   /* of @from's wait, as read */
} Edge;

/* A search allocates nothing for paths up to this length. */
#define INLINE_PATH 16

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
search_push_edge (Search         *s,
                  SyncifyThread  *from,
                  const Snapshot *snap,
                  SyncifyThread  *to)
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
  s->path[s->n_path++] = (Edge) { .from = from, .to = to,
                                  .wait = snap->wait, .serial = snap->serial };
}

/* Must hold registry_lock. Depth-first search for a path from @from (whose
 * wait is @snap) back to @goal, visiting each thread at most once; on
 * success the path holds its edges in order. */
static gboolean
find_path (SyncifyThread  *from,
           const Snapshot *snap,
           SyncifyThread  *goal,
           Search         *s)
{
  if (from->search_mark == s->serial)
    return FALSE;
  from->search_mark = s->serial;

  if (snap->wait.kind == SYNCIFY_WAIT_PUSH)
    {
      SyncifyThread *owner = snap->owner;

      if (owner != NULL && owner != from)
        {
          Snapshot next;

          snapshot_take (owner, &next);
          search_push_edge (s, from, snap, owner);
          if (owner == goal || find_path (owner, &next, goal, s))
            return TRUE;
          s->n_path--;
        }
    }
  else if (snap->wait.kind == SYNCIFY_WAIT_PRIVATE && registry_deliverers != NULL)
    {
      GQueue *workers = g_hash_table_lookup (registry_deliverers, snap->wait.target);

      for (GList *l = workers != NULL ? workers->head : NULL; l != NULL; l = l->next)
        {
          SyncifyThread *worker = l->data;
          Snapshot next;

          if (worker == from)
            continue;
          snapshot_take (worker, &next);
          search_push_edge (s, from, snap, worker);
          if (worker == goal || find_path (worker, &next, goal, s))
            return TRUE;
          s->n_path--;
        }
    }

  return FALSE;
}

/* Must hold registry_lock. Whether every wait on the path found is still
 * the one read, and not answered since (an answer ends an edge without
 * changing the wait): the owners cannot change under the registry lock and
 * an answer is never taken back, so the whole cycle exists now. */
static gboolean
path_still_holds (const Search *s)
{
  for (guint i = 0; i < s->n_path; i++)
    {
      SyncifyThread *t = s->path[i].from;
      gboolean holds;

      syncify_mutex_lock (&t->state_lock);
      holds = t->wait_serial == s->path[i].serial && !wait_answered (&t->wait);
      syncify_mutex_unlock (&t->state_lock);
      if (!holds)
        return FALSE;
    }
  return TRUE;
}

/* Must hold registry_lock. Whether @thread, about to block as its wait
 * says, closes a cycle; if so, @s holds it. */
static gboolean
closes_cycle (SyncifyThread *thread,
              Search        *s)
{
  for (;;)
    {
      Snapshot snap;

      snapshot_take (thread, &snap);
      search_init (s);
      if (!find_path (thread, &snap, thread, s))
        return FALSE;
      if (path_still_holds (s))
        return TRUE;
      /* A wait on it ended, or began anew, while it was read: look again.
       * Each round means that some thread moved on. */
      search_clear (s);
    }
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

      if (e->wait.kind == SYNCIFY_WAIT_PUSH)
        {
          what = describe_main_context (e->wait.target, e->wait.record);
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
  return syncify_wait_begin_full (thread, kind, target, node, NULL, 0, NULL, NULL,
                                  saved, error);
}

/* @thread's state lock held: its wait state becomes @wait, a wait in
 * @saved (the one it had), or ends, back to @saved. The blocked word
 * changes after the state it announces: whoever sees it set finds the
 * state under the lock. */
static inline void
wait_push (SyncifyThread          *thread,
           const SyncifyWaitState *wait,
           SyncifyWaitState       *saved)
{
  *saved = thread->wait;
  thread->wait = *wait;
  thread->wait_serial++;
  if (saved->kind == SYNCIFY_WAIT_NONE)
    g_atomic_int_set (&thread->blocked, 1);
}

static inline void
wait_pop (SyncifyThread          *thread,
          const SyncifyWaitState *saved)
{
  thread->wait = *saved;
  thread->wait_serial++;
  if (saved->kind == SYNCIFY_WAIT_NONE)
    g_atomic_int_set (&thread->blocked, 0);
}

static inline void
walk_owned (SyncifyThread *thread,
            GFunc          owned_func,
            gpointer       owned_data)
{
  if (owned_func != NULL)
    for (GList *l = thread->owned.head; l != NULL; l = l->next)
      owned_func (l->data, owned_data);
}

gboolean
syncify_wait_begin_full (SyncifyThread    *thread,
                         SyncifyWaitKind   kind,
                         GMainContext     *target,
                         SyncifyNode      *node,
                         const gint       *done_word,
                         gint              done_value,
                         GFunc             owned_func,
                         gpointer          owned_data,
                         SyncifyWaitState *saved,
                         GError          **error)
{
  SyncifyWaitState wait;
  Search search;
  gboolean fast;

  g_assert (kind != SYNCIFY_WAIT_NONE);

  wait = (SyncifyWaitState) {
    .kind = kind,
    .target = target,
    .record = node != NULL ? node->record : NULL,
    .done_word = done_word,
    .done_value = done_value,
    .background = node != NULL && node->background,
    /* Only needed while the default context has no owner record, and
     * only seen while the thread dispatches (how a thread holds a main
     * context in practice; one that acquired the default context by hand
     * outside any dispatch is not seen). g_main_depth() first: it is a
     * thread-local read, the test of ownership takes the context's lock. */
    .owns_default = !syncify_owner_record_default_owned () &&
                    g_main_depth () > 0 &&
                    g_main_context_is_owner (g_main_context_default ()),
    .listed = thread->wait.listed,
  };

  /* Publish the wait, then look at the owner's blocked word (see the top
   * of this file). A thread holding the default context while nobody is
   * recorded as its owner can be found only through the registry's list. */
  syncify_mutex_lock (&thread->state_lock);
  wait_push (thread, &wait, saved);
  fast = !wait.owns_default;
  if (fast && kind == SYNCIFY_WAIT_PUSH)
    {
      SyncifyThread *owner = wait_owner_now (&wait);

      fast = owner != NULL && (owner == thread || !g_atomic_int_get (&owner->blocked));
    }
  if (fast)
    {
      walk_owned (thread, owned_func, owned_data);
      syncify_mutex_unlock (&thread->state_lock);
      return TRUE;
    }
  syncify_mutex_unlock (&thread->state_lock);

  /* The slow path: the owner is blocked, or unknown. */
  syncify_registry_lock ();

  /* Listed before it searches: a thread that blocked earlier on the
   * unrecorded default context finds its holder only through the list, and
   * this search may go through that thread. */
  if (wait.owns_default && !wait.listed)
    {
      syncify_mutex_lock (&thread->state_lock);
      blocked_add (thread);
      thread->wait.listed = TRUE;
      syncify_mutex_unlock (&thread->state_lock);
    }

  /* A private wait cannot close a cycle as it begins: nothing runs for
   * its private context yet. Cycles through it are found by the threads
   * that block later. */
  if (kind == SYNCIFY_WAIT_PUSH && closes_cycle (thread, &search))
    {
      g_autofree char *description = describe_cycle (&search);

      search_clear (&search);
      syncify_mutex_lock (&thread->state_lock);
      if (thread->wait.listed && !saved->listed)
        blocked_remove (thread);
      wait_pop (thread, saved);
      syncify_mutex_unlock (&thread->state_lock);
      syncify_registry_unlock ();

      syncify_error_would_deadlock (error, description);
      return FALSE;
    }
  if (kind == SYNCIFY_WAIT_PUSH)
    search_clear (&search);

  if (kind == SYNCIFY_WAIT_PUSH)
    {
      /* (Its own state: only this thread writes it.) */
      SyncifyThread *owner = blocked_owner (&thread->wait, NULL);

      wait.owner_blocked = owner != NULL && owner != thread;
    }
  syncify_mutex_lock (&thread->state_lock);
  thread->wait.owner_blocked = wait.owner_blocked;
  walk_owned (thread, owned_func, owned_data);
  syncify_mutex_unlock (&thread->state_lock);

  syncify_registry_unlock ();
  return TRUE;
}

gboolean
syncify_wait_owner_blocked (SyncifyThread *thread)
{
  const SyncifyWaitState *wait = &thread->wait;
  SyncifyThread *owner;

  if (wait->owner_blocked)
    return TRUE;
  if (wait->kind != SYNCIFY_WAIT_PUSH)
    return FALSE;
  owner = wait_owner_now (wait);
  return owner != NULL && owner != thread && g_atomic_int_get (&owner->blocked);
}

void
syncify_wait_end (SyncifyThread    *thread,
                  SyncifyWaitState *saved)
{
  gboolean unlist = thread->wait.listed && !saved->listed;

  if G_UNLIKELY (unlist)
    syncify_registry_lock ();
  syncify_mutex_lock (&thread->state_lock);
  wait_pop (thread, saved);
  if G_UNLIKELY (unlist)
    blocked_remove (thread);
  syncify_mutex_unlock (&thread->state_lock);
  if G_UNLIKELY (unlist)
    syncify_registry_unlock ();
}
