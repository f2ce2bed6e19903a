/* test-pool.c: unit tests of the worker pool (syncify-pool.c)
 *
 * Items whose run functions wait on events the test sets one by one, so
 * that every assertion holds by the pool's rules, not by timing: the
 * max-workers bound and its order, slot lending while an item waits inside
 * the library and the slot taken back before queued items, and removing
 * and draining items that have not started.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-pool-private.h"
#include "test-util.h"

typedef struct _Item Item;
typedef void (*ItemBody) (Item *item);

struct _Item {
  SyncifyPoolItem  item;      /* first */
  guint            index;
  ItemBody         body;      /* (nullable): runs before the item is done */
  TestEvent        started;
  TestEvent        go;        /* set by the test: the item may end */
  TestEvent        done;
  gpointer         data;
};

G_STATIC_ASSERT (G_STRUCT_OFFSET (Item, item) == 0);

static GMutex order_lock;
static guint  n_running;       /* protected by order_lock */
static guint  max_running;     /* protected by order_lock */
static GArray *start_order;    /* guint; protected by order_lock */

static void
item_run (SyncifyPoolItem *pool_item)
{
  Item *item = (Item *) pool_item;

  g_mutex_lock (&order_lock);
  n_running++;
  max_running = MAX (max_running, n_running);
  g_array_append_val (start_order, item->index);
  g_mutex_unlock (&order_lock);

  test_event_set (&item->started);
  if (item->body != NULL)
    item->body (item);
  test_event_wait (&item->go, "the test to let an item end");

  g_mutex_lock (&order_lock);
  n_running--;
  g_mutex_unlock (&order_lock);

  syncify_pool_item_done (pool_item);
  test_event_set (&item->done);
}

static void
item_fail (SyncifyPoolItem *pool_item,
           GError          *error)
{
  g_error ("No worker thread for item %u: %s", ((Item *) pool_item)->index, error->message);
}

static Item *
items_new (SyncifyPoolGroup *group,
           guint             n)
{
  Item *items = g_new0 (Item, n);

  for (guint i = 0; i < n; i++)
    {
      items[i].item.group = group;
      items[i].item.run = item_run;
      items[i].item.fail = item_fail;
      items[i].index = i;
      test_event_init (&items[i].started);
      test_event_init (&items[i].go);
      test_event_init (&items[i].done);
    }
  return items;
}

static void
items_free (Item  *items,
            guint  n)
{
  for (guint i = 0; i < n; i++)
    {
      test_event_clear (&items[i].started);
      test_event_clear (&items[i].go);
      test_event_clear (&items[i].done);
    }
  g_free (items);
}

static void
reset_counters (void)
{
  g_mutex_lock (&order_lock);
  n_running = 0;
  max_running = 0;
  if (start_order == NULL)
    start_order = g_array_new (FALSE, FALSE, sizeof (guint));
  g_array_set_size (start_order, 0);
  g_mutex_unlock (&order_lock);
}

/* At most max-workers items of a group run at once, and they are taken in
 * the order they were pushed: item k starts only once item k - max ended. */
static void
test_bound_and_order (void)
{
  const guint n = 8, max = 2;
  SyncifyPoolGroup group;
  Item *items;

  test_watchdog_arm (g_test_get_path ());
  reset_counters ();

  syncify_pool_group_init (&group);
  syncify_pool_group_set_max (&group, max);
  g_assert_cmpuint (syncify_pool_group_get_max (&group), ==, max);
  items = items_new (&group, n);

  for (guint i = 0; i < n; i++)
    syncify_pool_push (&items[i].item);

  for (guint i = 0; i < n; i++)
    {
      test_event_wait (&items[i].started, "an item to start");
      /* Items i - 1 (if any) and i hold both slots: i + 1 waits. */
      if (i >= 1 && i + 1 < n)
        g_assert_false (test_event_is_set (&items[i + 1].started));
      if (i >= 1)
        {
          test_event_set (&items[i - 1].go);
          test_event_wait (&items[i - 1].done, "an item to end");
        }
    }
  test_event_set (&items[n - 1].go);
  test_event_wait (&items[n - 1].done, "the last item to end");

  g_mutex_lock (&order_lock);
  g_assert_cmpuint (max_running, ==, max);
  g_assert_cmpuint (start_order->len, ==, n);
  /* The first max items are taken together and enter their run functions
   * in whatever order their threads are scheduled: as a set they are
   * 0 .. max - 1.  Each later item is taken alone, when a slot frees, so
   * from there the order is exact. */
  {
    guint seen = 0;

    for (guint i = 0; i < max; i++)
      {
        guint index = g_array_index (start_order, guint, i);

        g_assert_cmpuint (index, <, max);
        g_assert_false (seen & (1u << index));
        seen |= 1u << index;
      }
  }
  for (guint i = max; i < n; i++)
    g_assert_cmpuint (g_array_index (start_order, guint, i), ==, i);
  g_mutex_unlock (&order_lock);

  items_free (items, n);
}

/* Raising the bound starts queued items at once. */
static void
test_raise_bound (void)
{
  const guint n = 4;
  SyncifyPoolGroup group;
  Item *items;

  test_watchdog_arm (g_test_get_path ());
  reset_counters ();

  syncify_pool_group_init (&group);
  syncify_pool_group_set_max (&group, 1);
  items = items_new (&group, n);
  for (guint i = 0; i < n; i++)
    syncify_pool_push (&items[i].item);

  test_event_wait (&items[0].started, "the first item to start");
  g_assert_false (test_event_is_set (&items[1].started));
  syncify_pool_group_set_max (&group, 2);
  test_event_wait (&items[1].started, "a second item to start once the bound is raised");

  for (guint i = 0; i < n; i++)
    {
      test_event_set (&items[i].go);
      test_event_wait (&items[i].done, "an item to end");
    }
  items_free (items, n);
}

/* Item 0 waits inside the library on item 1 of its own group, with
 * max-workers 1: it lends its slot, item 1 runs, and when its wait ends
 * item 0 takes a slot back, before item 2 if item 2 has not started yet.
 * Whatever the interleaving, at most one item holds a slot at a time. */
static gint slots_in_use;      /* protected by order_lock */
static gint max_slots_in_use;  /* protected by order_lock */

static void
slot_taken (gint delta)
{
  g_mutex_lock (&order_lock);
  slots_in_use += delta;
  max_slots_in_use = MAX (max_slots_in_use, slots_in_use);
  g_mutex_unlock (&order_lock);
}

static void
slot_body (Item *item)
{
  slot_taken (1);
  test_event_wait (&item->go, "the test to let an item end");
  slot_taken (-1);
}

static void
lender_body (Item *item)
{
  Item *items = item->data;

  slot_taken (1);
  syncify_pool_block_begin ();
  /* Given up before it is lent: item 1 may take it at once. */
  slot_taken (-1);
  syncify_pool_lend_current ();
  /* Without the lent slot, item 1 would never start: the watchdog fires. */
  test_event_wait (&items[1].started, "the item the lent slot lets run");
  test_event_set (&items[1].go);
  syncify_pool_block_end ();
  slot_taken (1);
  test_event_wait (&item->go, "the test to let the lender end");
  slot_taken (-1);
}

static void
test_lend (void)
{
  const guint n = 3;
  SyncifyPoolGroup group;
  Item *items;

  test_watchdog_arm (g_test_get_path ());
  reset_counters ();
  slots_in_use = max_slots_in_use = 0;

  syncify_pool_group_init (&group);
  syncify_pool_group_set_max (&group, 1);
  items = items_new (&group, n);
  items[0].body = lender_body;
  items[0].data = items;
  items[1].body = slot_body;
  items[2].body = slot_body;
  /* The test lets the lender and item 2 end at once; item 1 is let go by
   * the lender. */
  test_event_set (&items[0].go);
  test_event_set (&items[2].go);

  for (guint i = 0; i < n; i++)
    syncify_pool_push (&items[i].item);

  for (guint i = 0; i < n; i++)
    test_event_wait (&items[i].done, "the items to end");

  g_mutex_lock (&order_lock);
  g_assert_cmpint (max_slots_in_use, ==, 1);
  g_assert_cmpint (slots_in_use, ==, 0);
  /* Two items ran at once: the lender, waiting, and item 1. */
  g_assert_cmpuint (max_running, ==, 2);
  g_assert_cmpuint (start_order->len, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (g_array_index (start_order, guint, i), ==, i);
  g_mutex_unlock (&order_lock);

  items_free (items, n);
}

/* Lending is for items waiting inside the library: outside a blocking
 * section it lends nothing, and the bound holds. */
static void
no_lend_body (Item *item)
{
  Item *items = item->data;

  syncify_pool_lend_current ();
  /* Item 1 cannot start while this one holds the only slot. */
  test_event_set (&item->go);
  g_assert_false (test_event_is_set (&items[1].started));
}

static void
test_no_lend_outside_block (void)
{
  const guint n = 2;
  SyncifyPoolGroup group;
  Item *items;

  test_watchdog_arm (g_test_get_path ());
  reset_counters ();

  syncify_pool_group_init (&group);
  syncify_pool_group_set_max (&group, 1);
  items = items_new (&group, n);
  items[0].body = no_lend_body;
  items[0].data = items;
  for (guint i = 0; i < n; i++)
    syncify_pool_push (&items[i].item);

  test_event_wait (&items[0].done, "the first item to end");
  test_event_set (&items[1].go);
  test_event_wait (&items[1].done, "the second item to end");

  g_mutex_lock (&order_lock);
  g_assert_cmpuint (max_running, ==, 1);
  g_mutex_unlock (&order_lock);
  items_free (items, n);
}

/* Items that have not started can be removed one by one, or drained in
 * order; a running item cannot be removed. */
static void
test_remove_and_drain (void)
{
  const guint n = 5;
  SyncifyPoolGroup group;
  Item *items;
  GList *drained;

  test_watchdog_arm (g_test_get_path ());
  reset_counters ();

  syncify_pool_group_init (&group);
  syncify_pool_group_set_max (&group, 1);
  items = items_new (&group, n);
  for (guint i = 0; i < n; i++)
    syncify_pool_push (&items[i].item);

  test_event_wait (&items[0].started, "the first item to start");
  g_assert_false (syncify_pool_remove (&items[0].item));
  g_assert_true (syncify_pool_remove (&items[2].item));
  g_assert_false (syncify_pool_remove (&items[2].item));

  drained = syncify_pool_group_drain (&group);
  g_assert_cmpuint (g_list_length (drained), ==, 3);
  g_assert_true (drained->data == &items[1]);
  g_assert_true (drained->next->data == &items[3]);
  g_assert_true (drained->next->next->data == &items[4]);
  g_list_free (drained);
  g_assert_null (syncify_pool_group_drain (&group));

  test_event_set (&items[0].go);
  test_event_wait (&items[0].done, "the running item to end");

  g_mutex_lock (&order_lock);
  g_assert_cmpuint (start_order->len, ==, 1);
  g_mutex_unlock (&order_lock);
  for (guint i = 1; i < n; i++)
    g_assert_false (test_event_is_set (&items[i].started));

  items_free (items, n);
}

int
main (int    argc,
      char **argv)
{
  test_init (&argc, &argv);

  g_test_add_func ("/pool/bound-and-order", test_bound_and_order);
  g_test_add_func ("/pool/raise-bound", test_raise_bound);
  g_test_add_func ("/pool/lend", test_lend);
  g_test_add_func ("/pool/no-lend-outside-block", test_no_lend_outside_block);
  g_test_add_func ("/pool/remove-and-drain", test_remove_and_drain);

  return g_test_run ();
}
