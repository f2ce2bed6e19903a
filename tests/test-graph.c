/* test-graph.c: unit tests of the wait-for graph (syncify-graph.c)
 *
 * The graph is driven with fake thread states and fake contexts, from one
 * thread: cycles, dead ends, long chains, private waits with several
 * deliverers, the holder of an unowned context, forgotten contexts and the
 * messages. Nothing here depends on timing, and no thread runs but the
 * testing one (and, in one case, a thread that holds a main context).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "syncify-graph-private.h"
#include "test-util.h"

/* ------------------------------------------------------------------------ *
 * Fakes
 * ------------------------------------------------------------------------ */

static guint64 fake_serial = G_GUINT64_CONSTANT (1) << 48;

/* A thread state no real thread uses: blocked and unblocked by hand. */
static SyncifyThread *
fake_thread (const char *name)
{
  SyncifyThread *t = g_new0 (SyncifyThread, 1);

  g_mutex_init (&t->state_lock);
  g_strlcpy (t->name, name, sizeof t->name);
  t->blocked_link.data = t;
  t->deliver_link.data = t;
  t->link.data = t;
  g_queue_init (&t->owned);
  t->serial = ++fake_serial;
  t->wait.kind = SYNCIFY_WAIT_NONE;
  return t;
}

/* A context as the graph sees it: a node, an owner record, a main context. */
typedef struct {
  GMainContext       *main_context;
  SyncifyOwnerRecord  record;
  SyncifyNode         node;
  char               *name;
} FakeContext;

static FakeContext *
fake_context (const char    *name,
              SyncifyThread *owner)
{
  FakeContext *c = g_new0 (FakeContext, 1);

  c->main_context = g_main_context_new ();
  c->name = g_strdup (name);
  syncify_owner_record_init (&c->record, c->main_context);
  if (owner != NULL)
    syncify_owner_record_set (&c->record, owner);
  c->node = (SyncifyNode) {
    .name = c->name,
    .id = c,
    .main_context = c->main_context,
    .record = &c->record,
  };
  syncify_graph_add_node (&c->node);
  return c;
}

static void
fake_context_free (FakeContext *c)
{
  syncify_graph_remove_node (&c->node);
  syncify_owner_record_fini (&c->record);
  g_main_context_unref (c->main_context);
  g_free (c->name);
  g_free (c);
}

/* A blocked fake thread, with the state to restore when it stops. */
typedef struct {
  SyncifyThread    *thread;
  SyncifyWaitState  saved;
} Blocked;

static void
push_ok (Blocked       *b,
         SyncifyThread *thread,
         FakeContext   *target)
{
  g_autoptr(GError) error = NULL;

  b->thread = thread;
  g_assert_true (syncify_wait_begin (thread, SYNCIFY_WAIT_PUSH, target->main_context,
                                     &target->node, &b->saved, &error));
  g_assert_no_error (error);
  g_assert_cmpint (thread->wait.kind, ==, SYNCIFY_WAIT_PUSH);
}

static void
private_ok (Blocked       *b,
            SyncifyThread *thread,
            GMainContext  *private_context)
{
  g_autoptr(GError) error = NULL;

  b->thread = thread;
  g_assert_true (syncify_wait_begin (thread, SYNCIFY_WAIT_PRIVATE, private_context,
                                     NULL, &b->saved, &error));
  g_assert_no_error (error);
}

/* A PUSH wait of a call whose state is *@item_state: answered once it is
 * ITEM_DONE_VALUE. */
#define ITEM_DONE_VALUE 3

static void
push_answerable_ok (Blocked       *b,
                    SyncifyThread *thread,
                    FakeContext   *target,
                    gint          *item_state)
{
  g_autoptr(GError) error = NULL;

  b->thread = thread;
  g_assert_true (syncify_wait_begin_full (thread, SYNCIFY_WAIT_PUSH, target->main_context,
                                          &target->node, item_state, ITEM_DONE_VALUE,
                                          NULL, NULL, &b->saved, &error));
  g_assert_no_error (error);
}

static void
unblock (Blocked *b)
{
  syncify_wait_end (b->thread, &b->saved);
}

/* The wait of @thread on @target closes a cycle: it fails with @message,
 * and leaves @thread as it was. */
static void
push_deadlocks (SyncifyThread *thread,
                FakeContext   *target,
                const char    *message)
{
  g_autoptr(GError) error = NULL;
  SyncifyWaitState before = thread->wait;
  SyncifyWaitState saved;

  g_assert_false (syncify_wait_begin (thread, SYNCIFY_WAIT_PUSH, target->main_context,
                                      &target->node, &saved, &error));
  g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  if (message != NULL)
    g_assert_cmpstr (error->message, ==, message);
  g_assert_cmpint (thread->wait.kind, ==, before.kind);
  g_assert_true (thread->wait.record == before.record);
}

/* ------------------------------------------------------------------------ *
 * Cases
 * ------------------------------------------------------------------------ */

static void
test_two_threads (void)
{
  SyncifyThread *a, *b;
  FakeContext *ca, *cb;
  Blocked ba;

  test_watchdog_arm (g_test_get_path ());

  a = fake_thread ("a");
  b = fake_thread ("b");
  ca = fake_context ("ca", a);
  cb = fake_context ("cb", b);

  /* b is not blocked: a may wait on it. */
  push_ok (&ba, a, cb);
  g_assert_false (a->wait.owner_blocked);

  push_deadlocks (b, ca,
                  "Waiting would deadlock: thread \"b\" waits on context \"ca\", owned by "
                  "thread \"a\", which waits on context \"cb\", owned by thread \"b\"");

  /* Once a stops waiting, b may wait on a. */
  unblock (&ba);
  g_assert_cmpint (a->wait.kind, ==, SYNCIFY_WAIT_NONE);
  push_ok (&ba, b, ca);
  unblock (&ba);

  fake_context_free (ca);
  fake_context_free (cb);
  g_free (a);
  g_free (b);
}

static void
test_self (void)
{
  SyncifyThread *a;
  FakeContext *ca;
  Blocked ba;

  test_watchdog_arm (g_test_get_path ());

  /* A thread waiting on a context it owns itself is no cycle of the
   * graph's (the entry points refuse it with NOT_IN_WORKER first). */
  a = fake_thread ("a");
  ca = fake_context ("ca", a);
  push_ok (&ba, a, ca);
  g_assert_false (a->wait.owner_blocked);
  unblock (&ba);

  fake_context_free (ca);
  g_free (a);
}

/* A chain longer than the search's inline path, closed by its last thread:
 * the message names every link, in order. */
static void
test_long_chain (void)
{
  const guint n = 50;
  SyncifyThread **threads = g_new0 (SyncifyThread *, n);
  FakeContext **contexts = g_new0 (FakeContext *, n);
  Blocked *blocked = g_new0 (Blocked, n);
  g_autoptr(GString) expected = g_string_new ("Waiting would deadlock: ");

  test_watchdog_arm (g_test_get_path ());

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *tname = g_strdup_printf ("t%u", i);
      g_autofree char *cname = g_strdup_printf ("c%u", i);

      threads[i] = fake_thread (tname);
      contexts[i] = fake_context (cname, threads[i]);
    }

  /* t0 waits on c1 (owned by t1), ..., t48 on c49: no cycle yet. Blocked
   * from the end, so that each new wait follows the whole chain after it. */
  for (guint i = n - 1; i-- > 0;)
    {
      push_ok (&blocked[i], threads[i], contexts[i + 1]);
      g_assert_true (threads[i]->wait.owner_blocked == (i + 1 < n - 1));
    }

  /* t49 on c0 closes it. */
  g_string_append_printf (expected, "thread \"t%u\" waits on context \"c0\", owned by thread \"t0\"", n - 1);
  for (guint i = 0; i + 1 < n; i++)
    g_string_append_printf (expected, ", which waits on context \"c%u\", owned by thread \"t%u\"",
                            i + 1, i + 1);
  push_deadlocks (threads[n - 1], contexts[0], expected->str);

  /* Break the chain in the middle: no cycle any more. */
  unblock (&blocked[n / 2]);
  push_ok (&blocked[n - 1], threads[n - 1], contexts[0]);
  unblock (&blocked[n - 1]);

  for (guint i = 0; i + 1 < n; i++)
    if (i != n / 2)
      unblock (&blocked[i]);
  for (guint i = 0; i < n; i++)
    {
      fake_context_free (contexts[i]);
      g_free (threads[i]);
    }
  g_free (threads);
  g_free (contexts);
  g_free (blocked);
}

/* A thread iterating a private context waits on every worker that
 * delivers to it: a dead end through the first worker does not hide a
 * cycle through the second. */
static void
test_private_dead_end (void)
{
  SyncifyThread *x, *w1, *w2, *y, *z;
  FakeContext *cx, *cy, *cz;
  GMainContext *private_context = g_main_context_new ();
  Blocked bx, bw1, bw2, by;

  test_watchdog_arm (g_test_get_path ());

  x = fake_thread ("x");
  w1 = fake_thread ("w1");
  w2 = fake_thread ("w2");
  y = fake_thread ("y");
  z = fake_thread ("z");
  cx = fake_context ("cx", x);
  cy = fake_context ("cy", y);
  cz = fake_context ("cz", z);

  /* x iterates its private context, for jobs running on w1 and w2. */
  syncify_graph_deliverer_add (w1, private_context);
  syncify_graph_deliverer_add (w2, private_context);
  private_ok (&bx, x, private_context);
  /* w1 waits on y, which is not blocked: a dead end. w2 waits on z. */
  push_ok (&bw1, w1, cy);
  push_ok (&bw2, w2, cz);

  push_deadlocks (z, cx,
                  "Waiting would deadlock: thread \"z\" waits on context \"cx\", owned by "
                  "thread \"x\", which iterates a private main context until an asyncify "
                  "job running on thread \"w2\" completes, which waits on context \"cz\", "
                  "owned by thread \"z\"");
  /* The dead end was searched too, once. */
  g_assert_cmpuint (w1->search_mark, ==, x->search_mark);

  /* y waiting on x: x waits (through w1) on y. */
  push_deadlocks (y, cx, NULL);

  /* With w2 done, z may wait on x; with w1 done too, y may. */
  unblock (&bw2);
  syncify_graph_deliverer_remove (w2, private_context);
  push_ok (&by, z, cx);
  unblock (&by);
  unblock (&bw1);
  syncify_graph_deliverer_remove (w1, private_context);
  push_ok (&by, y, cx);
  unblock (&by);
  unblock (&bx);

  fake_context_free (cx);
  fake_context_free (cy);
  fake_context_free (cz);
  g_main_context_unref (private_context);
  g_free (x);
  g_free (w1);
  g_free (w2);
  g_free (y);
  g_free (z);
}

/* Two paths into the same thread: it is visited once, and the search ends. */
static void
test_diamond (void)
{
  SyncifyThread *x, *w1, *w2, *m, *n, *q;
  FakeContext *cm, *cn, *cx;
  GMainContext *private_context = g_main_context_new ();
  Blocked bx, bw1, bw2, bm, bq;

  test_watchdog_arm (g_test_get_path ());

  x = fake_thread ("x");
  w1 = fake_thread ("w1");
  w2 = fake_thread ("w2");
  m = fake_thread ("m");
  n = fake_thread ("n");
  q = fake_thread ("q");
  cx = fake_context ("cx", x);
  cm = fake_context ("cm", m);
  cn = fake_context ("cn", n);

  syncify_graph_deliverer_add (w1, private_context);
  syncify_graph_deliverer_add (w2, private_context);
  private_ok (&bx, x, private_context);
  push_ok (&bw1, w1, cm);
  push_ok (&bw2, w2, cm);
  g_assert_true (w2->wait.owner_blocked == FALSE);
  push_ok (&bm, m, cn);
  g_assert_true (bw1.thread->wait.record == &cm->record);

  /* q on x: x -> w1 -> m -> n (not blocked), x -> w2 -> m (seen): none. */
  push_ok (&bq, q, cx);
  g_assert_cmpuint (m->search_mark, ==, q->search_mark);
  unblock (&bq);

  unblock (&bm);
  unblock (&bw2);
  unblock (&bw1);
  unblock (&bx);
  syncify_graph_deliverer_remove (w1, private_context);
  syncify_graph_deliverer_remove (w2, private_context);
  fake_context_free (cx);
  fake_context_free (cm);
  fake_context_free (cn);
  g_main_context_unref (private_context);
  g_free (x);
  g_free (w1);
  g_free (w2);
  g_free (m);
  g_free (n);
  g_free (q);
}

/* Nested waits save and restore the outer one. */
static void
test_nested (void)
{
  SyncifyThread *a, *b, *c;
  FakeContext *cb, *cc;
  Blocked outer, inner;

  test_watchdog_arm (g_test_get_path ());

  a = fake_thread ("a");
  b = fake_thread ("b");
  c = fake_thread ("c");
  cb = fake_context ("cb", b);
  cc = fake_context ("cc", c);

  push_ok (&outer, a, cb);
  g_assert_cmpint (outer.saved.kind, ==, SYNCIFY_WAIT_NONE);
  push_ok (&inner, a, cc);
  g_assert_cmpint (inner.saved.kind, ==, SYNCIFY_WAIT_PUSH);
  g_assert_true (inner.saved.record == &cb->record);
  g_assert_true (a->wait.record == &cc->record);
  unblock (&inner);
  g_assert_true (a->wait.record == &cb->record);
  unblock (&outer);
  g_assert_cmpint (a->wait.kind, ==, SYNCIFY_WAIT_NONE);

  fake_context_free (cb);
  fake_context_free (cc);
  g_free (a);
  g_free (b);
  g_free (c);
}

/* Holds a main context from another thread (acquiring it from the testing
 * thread would not do: a thread may always acquire a context it holds). */
typedef struct {
  GMainContext *main_context;
  TestEvent     held;
  TestEvent     release;
} Holder;

static gpointer
holder_thread (gpointer data)
{
  Holder *h = data;

  g_assert_true (g_main_context_acquire (h->main_context));
  test_event_set (&h->held);
  test_event_wait (&h->release, "the test to let the context go");
  g_main_context_release (h->main_context);
  return NULL;
}

static GThread *
hold (Holder       *h,
      GMainContext *main_context)
{
  GThread *thread;

  h->main_context = main_context;
  test_event_init (&h->held);
  test_event_init (&h->release);
  thread = g_thread_new ("holder", holder_thread, h);
  test_event_wait (&h->held, "the holder to acquire the context");
  return thread;
}

static void
let_go (Holder  *h,
        GThread *thread)
{
  test_event_set (&h->release);
  g_thread_join (thread);
  test_event_clear (&h->held);
  test_event_clear (&h->release);
}

/* A context nobody iterates, held by the thread that wrapped it: that
 * thread, if it is blocked, is the one a pusher waits on. */
static void
test_held_unowned (void)
{
  SyncifyThread *c, *d;
  FakeContext *held, *cd;
  Blocked bc, bd;
  Holder holder;
  GThread *thread;

  test_watchdog_arm (g_test_get_path ());

  c = fake_thread ("c");
  d = fake_thread ("d");
  held = fake_context ("held", NULL);
  cd = fake_context ("cd", d);
  /* c wrapped it (the record names its creator), and it is held. */
  held->record.creator = c;
  held->record.creator_serial = c->serial;
  thread = hold (&holder, held->main_context);

  push_ok (&bc, c, cd);
  push_deadlocks (d, held,
                  "Waiting would deadlock: thread \"d\" waits on context \"held\", owned by "
                  "thread \"c\", which waits on context \"cd\", owned by thread \"d\"");

  /* Its creator has exited (its state serves another thread now): no
   * edge. */
  c->serial = ++fake_serial;
  push_ok (&bd, d, held);
  unblock (&bd);
  held->record.creator_serial = c->serial;
  push_deadlocks (d, held, NULL);

  /* Released, it is nobody's: no edge. */
  let_go (&holder, thread);
  push_ok (&bd, d, held);
  unblock (&bd);
  unblock (&bc);

  fake_context_free (held);
  fake_context_free (cd);
  g_free (c);
  g_free (d);
}

/* A call answered while its waiter has not returned yet: the wait waits on
 * nobody, even once its context has gone (its waiter keeps the owner
 * record, as a real one keeps the inbox). */
static void
test_answered (void)
{
  SyncifyThread *a, *b;
  FakeContext *ca, *cb;
  Blocked ba, bb;
  gint item_state = 0;

  test_watchdog_arm (g_test_get_path ());

  a = fake_thread ("a");
  b = fake_thread ("b");
  ca = fake_context ("ca", a);
  cb = fake_context ("cb", b);

  push_answerable_ok (&ba, a, cb, &item_state);
  /* Not answered yet: b on ca closes a -> b. */
  push_deadlocks (b, ca,
                  "Waiting would deadlock: thread \"b\" waits on context \"ca\", owned by "
                  "thread \"a\", which waits on context \"cb\", owned by thread \"b\"");
  /* Answered: a waits on nobody. */
  g_atomic_int_set (&item_state, ITEM_DONE_VALUE);
  push_ok (&bb, b, ca);
  unblock (&bb);
  /* Its context goes: nothing changes, and nothing of it is read but the
   * record. */
  syncify_graph_remove_node (&cb->node);
  push_ok (&bb, b, ca);
  unblock (&bb);
  /* A wait that is not answered on a context that has gone still counts,
   * and the message names the context by its main context. */
  g_atomic_int_set (&item_state, 0);
  {
    g_autofree char *expected =
      g_strdup_printf ("Waiting would deadlock: thread \"b\" waits on context \"ca\", owned by "
                       "thread \"a\", which waits on context %p, owned by thread \"b\"",
                       (gpointer) cb->main_context);

    push_deadlocks (b, ca, expected);
  }
  unblock (&ba);
  syncify_graph_add_node (&cb->node);

  fake_context_free (ca);
  fake_context_free (cb);
  g_free (a);
  g_free (b);
}

/* The common case takes no global lock: a wait on a context whose owner is
 * not blocked (or has none that blocks, or is the waiter), a private wait,
 * and their ends. A wait on a blocked owner searches, under the lock. */
static void
test_fast_path (void)
{
  SyncifyThread *a, *b, *c;
  FakeContext *ca, *cb;
  GMainContext *private_context = g_main_context_new ();
  Blocked ba, bb, bc;
  guint64 taken;

  test_watchdog_arm (g_test_get_path ());

  a = fake_thread ("a");
  b = fake_thread ("b");
  c = fake_thread ("c");
  ca = fake_context ("ca", a);
  cb = fake_context ("cb", b);

  taken = syncify_registry_lock_taken ();
  push_ok (&ba, a, cb);
  g_assert_false (a->wait.owner_blocked);
  g_assert_true (g_atomic_int_get (&a->blocked));
  private_ok (&bb, b, private_context);
  push_ok (&bc, c, ca);   /* a is blocked: c searches, under the lock */
  g_assert_cmpuint (syncify_registry_lock_taken (), ==, taken + 1);
  g_assert_true (c->wait.owner_blocked);
  unblock (&bc);
  unblock (&bb);
  unblock (&ba);
  g_assert_false (g_atomic_int_get (&a->blocked));
  g_assert_cmpuint (syncify_registry_lock_taken (), ==, taken + 1);

  /* Nested: the inner wait is on a context whose owner is not blocked. */
  private_ok (&bb, b, private_context);
  push_ok (&ba, b, ca);
  unblock (&ba);
  unblock (&bb);
  g_assert_false (g_atomic_int_get (&b->blocked));
  g_assert_cmpuint (syncify_registry_lock_taken (), ==, taken + 1);

  fake_context_free (ca);
  fake_context_free (cb);
  g_main_context_unref (private_context);
  g_free (a);
  g_free (b);
  g_free (c);
}

/* Real threads close cycles at the same moment, each on its own fake
 * state: the waits are published without a global lock, yet every round
 * exactly one of the threads of a cycle fails (never none, which would
 * hang, never two, which would be a false alarm). */
typedef struct {
  SyncifyThread *self;
  FakeContext   *target;
  gint          *start;      /* (atomic) the round's start line */
  gint           round;
  gboolean       failed;
  SyncifyWaitState saved;
} Racer;

static gpointer
racer_run (gpointer data)
{
  Racer *r = data;
  g_autoptr(GError) error = NULL;

  while (g_atomic_int_get (r->start) != r->round)
    g_thread_yield ();
  r->failed = !syncify_wait_begin (r->self, SYNCIFY_WAIT_PUSH, r->target->main_context,
                                   &r->target->node, &r->saved, &error);
  if (r->failed)
    g_assert_error (error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  return NULL;
}

static void
test_race (gconstpointer data)
{
  guint n = GPOINTER_TO_UINT (data);
  guint rounds = test_scaled (TEST_FEWER_UNDER_VALGRIND, 2000, 100);
  SyncifyThread **threads = g_new0 (SyncifyThread *, n);
  FakeContext **contexts = g_new0 (FakeContext *, n);
  Racer *racers = g_new0 (Racer, n);
  GThread **os_threads = g_new0 (GThread *, n);
  gint start = -1;
  guint fast_rounds = 0;

  test_watchdog_arm (g_test_get_path ());

  for (guint i = 0; i < n; i++)
    {
      char name[16];

      g_snprintf (name, sizeof name, "t%u", i);
      threads[i] = fake_thread (name);
      g_snprintf (name, sizeof name, "c%u", i);
      contexts[i] = fake_context (name, threads[i]);
    }

  for (guint round = 0; round < rounds; round++)
    {
      guint n_failed = 0;
      guint64 taken = syncify_registry_lock_taken ();

      /* t_i waits on c_(i+1), owned by t_(i+1): a cycle of n. */
      for (guint i = 0; i < n; i++)
        {
          racers[i] = (Racer) {
            .self = threads[i],
            .target = contexts[(i + 1) % n],
            .start = &start,
            .round = (gint) round,
          };
          os_threads[i] = g_thread_new ("racer", racer_run, &racers[i]);
        }
      g_atomic_int_set (&start, (gint) round);
      for (guint i = 0; i < n; i++)
        g_thread_join (os_threads[i]);

      for (guint i = 0; i < n; i++)
        n_failed += racers[i].failed;
      g_assert_cmpuint (n_failed, ==, 1);
      if (syncify_registry_lock_taken () - taken < n)
        fast_rounds++;
      for (guint i = 0; i < n; i++)
        if (!racers[i].failed)
          syncify_wait_end (threads[i], &racers[i].saved);
      for (guint i = 0; i < n; i++)
        g_assert_false (g_atomic_int_get (&threads[i]->blocked));
    }
  g_test_message ("%u of %u rounds had a thread that did not search", fast_rounds, rounds);

  for (guint i = 0; i < n; i++)
    {
      fake_context_free (contexts[i]);
      g_free (threads[i]);
    }
  g_free (threads);
  g_free (contexts);
  g_free (racers);
  g_free (os_threads);
}

/* Ownership moves: the edge follows the record's current owner. */
static void
test_owner_moves (void)
{
  SyncifyThread *a, *b, *c;
  FakeContext *ca, *cb;
  Blocked ba;

  test_watchdog_arm (g_test_get_path ());

  a = fake_thread ("a");
  b = fake_thread ("b");
  c = fake_thread ("c");
  ca = fake_context ("ca", a);
  cb = fake_context ("cb", b);

  push_ok (&ba, a, cb);
  push_deadlocks (b, ca, NULL);
  /* c iterates ca now: b waiting on ca waits on c, which is not blocked. */
  syncify_owner_record_set (&ca->record, c);
  g_assert_cmpuint (g_queue_get_length (&a->owned), ==, 0);
  g_assert_cmpuint (g_queue_get_length (&c->owned), ==, 1);
  {
    Blocked bb;

    push_ok (&bb, b, ca);
    unblock (&bb);
  }
  /* Forgotten: nobody owns it. */
  syncify_owner_record_clear (&ca->record);
  g_assert_null (ca->record.owner);
  g_assert_cmpuint (g_queue_get_length (&c->owned), ==, 0);
  unblock (&ba);

  fake_context_free (ca);
  fake_context_free (cb);
  g_free (a);
  g_free (b);
  g_free (c);
}

/* The default context is wrapped, with no owner recorded, by a thread (b)
 * that blocks on it first; the thread that holds it in a dispatch (m) then
 * blocks on a context b owns. m's own search must find itself as the
 * holder b waits on: it is listed before it searches. */
typedef struct {
  SyncifyThread    *m;
  FakeContext      *target;
  gboolean          ok;
  GError           *error;
  SyncifyWaitState  saved;
} DispatchWait;

static gboolean
dispatch_wait_cb (gpointer data)
{
  DispatchWait *dw = data;

  /* In a dispatch of the default context: this thread holds it. */
  g_assert_true (g_main_context_is_owner (g_main_context_default ()));
  dw->ok = syncify_wait_begin (dw->m, SYNCIFY_WAIT_PUSH, dw->target->main_context,
                               &dw->target->node, &dw->saved, &dw->error);
  return G_SOURCE_REMOVE;
}

/* @dw's wait, begun in a dispatch of the default context. */
static void
wait_in_dispatch (DispatchWait  *dw,
                  SyncifyThread *m,
                  FakeContext   *target)
{
  *dw = (DispatchWait) { .m = m, .target = target };
  g_idle_add (dispatch_wait_cb, dw);
  while (dw->error == NULL && !dw->ok)
    g_main_context_iteration (NULL, FALSE);   /* bounded by the watchdog */
}

static void
test_default_holder_second (void)
{
  SyncifyThread *b, *m;
  FakeContext *cb, *def;
  DispatchWait dw = { NULL, };
  Blocked bb;

  test_watchdog_arm (g_test_get_path ());

  b = fake_thread ("b");
  m = fake_thread ("m");
  cb = fake_context ("cb", b);
  def = g_new0 (FakeContext, 1);
  def->main_context = g_main_context_default ();
  syncify_owner_record_init (&def->record, def->main_context);
  def->node = (SyncifyNode) {
    .name = "default",
    .id = def,
    .main_context = def->main_context,
    .record = &def->record,
  };
  syncify_graph_add_node (&def->node);
  g_assert_false (syncify_owner_record_default_owned ());

  /* b first: nobody holding the default context is blocked yet. */
  push_ok (&bb, b, def);
  g_assert_cmpuint (syncify_graph_n_listed (), ==, 0);
  wait_in_dispatch (&dw, m, cb);
  g_assert_false (dw.ok);
  g_assert_error (dw.error, SYNCIFY_ERROR, SYNCIFY_ERROR_WOULD_DEADLOCK);
  g_assert_cmpstr (dw.error->message, ==,
                   "Waiting would deadlock: thread \"m\" waits on context \"cb\", owned by "
                   "thread \"b\", which waits on the default context, owned by thread \"m\"");
  g_clear_error (&dw.error);
  /* It failed, and is not listed any more: b alone is blocked. */
  g_assert_false (g_atomic_int_get (&m->blocked));
  g_assert_cmpuint (syncify_graph_n_listed (), ==, 0);
  unblock (&bb);

  /* Its wait on a context whose owner is not blocked succeeds, listed (it
   * holds the unrecorded default context) until it ends. */
  {
    SyncifyThread *c = fake_thread ("c");
    FakeContext *cc = fake_context ("cc", c);

    wait_in_dispatch (&dw, m, cc);
    g_assert_no_error (dw.error);
    g_assert_true (m->wait.owns_default);
    g_assert_cmpuint (syncify_graph_n_listed (), ==, 1);
    syncify_wait_end (m, &dw.saved);
    g_assert_cmpuint (syncify_graph_n_listed (), ==, 0);
    fake_context_free (cc);
    g_free (c);
  }

  syncify_graph_remove_node (&def->node);
  syncify_owner_record_fini (&def->record);
  g_free (def);
  fake_context_free (cb);
  g_free (b);
  g_free (m);
}

/* A cycle read while one of its edges goes and another comes: s waits on
 * x, x on y (its call not answered yet), y is blocked elsewhere. Between
 * s's reading of x and of y, y's wait ends, y answers x's call and blocks
 * on a context s owns. All the waits read are the same ones (x's did not
 * change, only its answer), yet s -> x -> y -> s never existed at one
 * moment: x waited on nobody before y waited on s. No cycle. */
typedef struct {
  SyncifyThread    *y;
  FakeContext      *cs;
  gint             *x_item_state;
  SyncifyWaitState *y_saved;
  gboolean          done;
} Meanwhile;

static void
meanwhile_hook (SyncifyThread *thread,
                gpointer       data)
{
  Meanwhile *mw = data;

  if (thread != mw->y || mw->done)
    return;
  mw->done = TRUE;
  /* y's wait ends, and it answers x's call ... */
  syncify_wait_end (mw->y, mw->y_saved);
  g_atomic_int_set (mw->x_item_state, ITEM_DONE_VALUE);
  /* ... and it publishes a wait on cs, owned by s (which is blocked: it
   * would now wait for the registry lock, held by this search). */
  syncify_mutex_lock (&mw->y->state_lock);
  mw->y->wait = (SyncifyWaitState) {
    .kind = SYNCIFY_WAIT_PUSH,
    .target = mw->cs->main_context,
    .record = &mw->cs->record,
  };
  mw->y->wait_serial++;
  g_atomic_int_set (&mw->y->blocked, 1);
  syncify_mutex_unlock (&mw->y->state_lock);
}

static void
test_answered_during_search (void)
{
  SyncifyThread *s, *x, *y;
  FakeContext *cs, *cx, *cy;
  GMainContext *private_context = g_main_context_new ();
  Blocked bx, by, bs;
  gint item_state = 0;
  Meanwhile mw = { NULL, };
  SyncifyWaitState none = { .kind = SYNCIFY_WAIT_NONE };

  test_watchdog_arm (g_test_get_path ());

  s = fake_thread ("s");
  x = fake_thread ("x");
  y = fake_thread ("y");
  cs = fake_context ("cs", s);
  cx = fake_context ("cx", x);
  cy = fake_context ("cy", y);

  private_ok (&by, y, private_context);
  push_answerable_ok (&bx, x, cy, &item_state);

  mw = (Meanwhile) { .y = y, .cs = cs, .x_item_state = &item_state, .y_saved = &by.saved };
  syncify_graph_set_search_hook (meanwhile_hook, &mw);
  push_ok (&bs, s, cx);
  syncify_graph_set_search_hook (NULL, NULL);
  g_assert_true (mw.done);

  unblock (&bs);
  syncify_wait_end (y, &none);
  unblock (&bx);

  fake_context_free (cs);
  fake_context_free (cx);
  fake_context_free (cy);
  g_main_context_unref (private_context);
  g_free (s);
  g_free (x);
  g_free (y);
}

static void
test_describe (void)
{
  SyncifyNode named = { .name = "net", .main_context = NULL };
  SyncifyNode deflt = { .name = "default", .main_context = g_main_context_default () };
  SyncifyNode deflt_named = { .name = "ui", .main_context = g_main_context_default () };
  SyncifyNode anonymous = { .name = NULL, .id = GSIZE_TO_POINTER (0x1234) };
  g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *expected = NULL;

  test_watchdog_arm (g_test_get_path ());

  a = syncify_node_describe (&named);
  b = syncify_node_describe (&deflt);
  c = syncify_node_describe (&deflt_named);
  d = syncify_node_describe (&anonymous);
  expected = g_strdup_printf ("context %p", GSIZE_TO_POINTER (0x1234));

  g_assert_cmpstr (a, ==, "context \"net\"");
  g_assert_cmpstr (b, ==, "the default context");
  g_assert_cmpstr (c, ==, "context \"ui\"");
  g_assert_cmpstr (d, ==, expected);
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);

  g_test_add_func ("/graph/two-threads", test_two_threads);
  g_test_add_func ("/graph/self", test_self);
  g_test_add_func ("/graph/long-chain", test_long_chain);
  g_test_add_func ("/graph/private-dead-end", test_private_dead_end);
  g_test_add_func ("/graph/diamond", test_diamond);
  g_test_add_func ("/graph/nested", test_nested);
  g_test_add_func ("/graph/held-unowned", test_held_unowned);
  g_test_add_func ("/graph/answered", test_answered);
  g_test_add_func ("/graph/answered-during-search", test_answered_during_search);
  g_test_add_func ("/graph/default-holder-second", test_default_holder_second);
  g_test_add_func ("/graph/fast-path", test_fast_path);
  g_test_add_data_func ("/graph/race/two", GUINT_TO_POINTER (2), test_race);
  g_test_add_data_func ("/graph/race/three", GUINT_TO_POINTER (3), test_race);
  g_test_add_func ("/graph/owner-moves", test_owner_moves);
  g_test_add_func ("/graph/describe", test_describe);

  return g_test_run ();
}
