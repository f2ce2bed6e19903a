/* syncify-lock.c: cross-thread hand-offs (see syncify-lock-private.h)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "syncify-lock-private.h"

/* An idle source that declares the hand-off of its data to ThreadSanitizer. */
typedef struct {
  GSource         source;   /* first: the post is its GSource */
  GSourceFunc     func;
  gpointer        data;
  GDestroyNotify  notify;
} Post;

G_STATIC_ASSERT (G_STRUCT_OFFSET (Post, source) == 0);

static gboolean
post_prepare (GSource *source,
              gint    *timeout)
{
  *timeout = 0;
  return TRUE;
}

static gboolean
post_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  Post *post = (Post *) source;

  gboolean again;

  SYNCIFY_TSAN_ACQUIRE (post);
  again = post->func (post->data);
  /* The last reference on the source may be dropped on another thread
   * (the poster's g_source_unref()), which then runs the notify: it sees
   * what the function wrote. */
  SYNCIFY_TSAN_RELEASE (post);
  return again;
}

static void
post_finalize (GSource *source)
{
  Post *post = (Post *) source;

  SYNCIFY_TSAN_ACQUIRE (post);
  if (post->notify != NULL)
    post->notify (post->data);
}

static GSourceFuncs post_funcs = {
  .prepare = post_prepare,
  .dispatch = post_dispatch,
  .finalize = post_finalize,
};

void
syncify_post (GMainContext   *context,
              gint            priority,
              const char     *name,
              GSourceFunc     func,
              gpointer        data,
              GDestroyNotify  notify)
{
  GSource *source = g_source_new (&post_funcs, sizeof (Post));
  Post *post = (Post *) source;

  post->func = func;
  post->data = data;
  post->notify = notify;
  g_source_set_priority (source, priority);
  g_source_set_static_name (source, name);

  g_main_context_ref (context);
  /* Everything written before (the post, and @data) is the other side's. */
  SYNCIFY_TSAN_RELEASE (post);
  g_source_attach (source, context);
  g_source_unref (source);
  g_main_context_unref (context);
}
