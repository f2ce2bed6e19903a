/* syncify-lock-private.h: locks and cross-thread hand-offs
 *
 * The bottom of the library: every lock it takes and every piece of work it
 * hands to another thread's main context goes through here, so that
 * ThreadSanitizer sees each happens-before edge in one place.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "config.h"

#include <glib.h>

G_BEGIN_DECLS

/* ThreadSanitizer cannot see inside the uninstrumented system GLib, so the
 * happens-before edges of GMutex, GCond and a GMainContext's queue are
 * invisible to it. Every lock the library takes goes through these
 * wrappers, and every hand-off through syncify_post(), which declare the
 * edge. */
#if defined(__SANITIZE_THREAD__) || HAVE_SANITIZE_THREAD
void __tsan_acquire (void *addr);
void __tsan_release (void *addr);
# define SYNCIFY_TSAN_ACQUIRE(p) __tsan_acquire ((void *) (p))
# define SYNCIFY_TSAN_RELEASE(p) __tsan_release ((void *) (p))
#else
# define SYNCIFY_TSAN_ACQUIRE(p) G_STMT_START { (void) (p); } G_STMT_END
# define SYNCIFY_TSAN_RELEASE(p) G_STMT_START { (void) (p); } G_STMT_END
#endif

/* Thread-local variables of the library. Initial-exec: an access is one
 * load off the thread pointer instead of a __tls_get_addr() call (the
 * library has a few words of them, well within the static TLS that glibc
 * keeps for libraries loaded later, by a language binding say). */
#if defined(__GNUC__) && defined(__ELF__)
# define SYNCIFY_THREAD_LOCAL __thread __attribute__ ((tls_model ("initial-exec")))
#else
# define SYNCIFY_THREAD_LOCAL __thread
#endif

static inline void
syncify_mutex_lock (GMutex *mutex)
{
  g_mutex_lock (mutex);
  SYNCIFY_TSAN_ACQUIRE (mutex);
}

static inline void
syncify_mutex_unlock (GMutex *mutex)
{
  SYNCIFY_TSAN_RELEASE (mutex);
  g_mutex_unlock (mutex);
}

static inline void
syncify_cond_wait (GCond  *cond,
                   GMutex *mutex)
{
  SYNCIFY_TSAN_RELEASE (mutex);
  g_cond_wait (cond, mutex);
  SYNCIFY_TSAN_ACQUIRE (mutex);
}

static inline gboolean
syncify_cond_wait_until (GCond  *cond,
                         GMutex *mutex,
                         gint64  end_time)
{
  gboolean ret;

  SYNCIFY_TSAN_RELEASE (mutex);
  ret = g_cond_wait_until (cond, mutex, end_time);
  SYNCIFY_TSAN_ACQUIRE (mutex);
  return ret;
}

/* Runs @func (@data) from a source of @priority in @context, then @notify
 * (@data) when the source goes; called in any thread. The hand-off is a
 * release here and an acquire before @func and @notify run: what
 * the caller wrote to @data before posting is visible to them, and the
 * caller must not touch @data afterwards. @context is held across the
 * hand-off: once attached, the source may run on @context's thread, where
 * @data may drop the last reference on @context (through a GTask, say),
 * before this function is done with it. */
void syncify_post (GMainContext   *context,
                   gint            priority,
                   const char     *name,
                   GSourceFunc     func,
                   gpointer        data,
                   GDestroyNotify  notify);

G_END_DECLS
