/* tsan-glib-locks.c: makes GLib's GMutex, GRecMutex and GCond visible to
 * ThreadSanitizer in the test programs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The system GLib is not instrumented, so TSan cannot see that a GMutex
 * orders the accesses it protects, and reports every hand-off through one
 * as a race (google/sanitizers#490). Linked only into TSan builds of the
 * tests, this file interposes the lock functions: each calls GLib's own and
 * declares the acquire/release edge, as syncify-glib does for its own locks
 * (syncify-private.h). Nothing is suppressed.
 */

#ifndef _GNU_SOURCE
# define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <glib.h>

void __tsan_acquire (void *addr);
void __tsan_release (void *addr);

/* Looked up on first use, through atomic accesses (a plain lazily set
 * static would itself be a data race; a constructor would run after
 * GObject's own, which already takes locks). */
#define REAL(ret, name, args) \
  static gpointer real_ptr_##name; \
  ret (*real_##name) args; \
  *(gpointer *) (&real_##name) = g_atomic_pointer_get (&real_ptr_##name); \
  if G_UNLIKELY (real_##name == NULL) \
    { \
      gpointer sym = dlsym (RTLD_NEXT, #name); \
      g_atomic_pointer_set (&real_ptr_##name, sym); \
      *(gpointer *) (&real_##name) = sym; \
    }

void
g_mutex_lock (GMutex *mutex)
{
  REAL (void, g_mutex_lock, (GMutex *));
  real_g_mutex_lock (mutex);
  __tsan_acquire (mutex);
}

gboolean
g_mutex_trylock (GMutex *mutex)
{
  gboolean ok;
  REAL (gboolean, g_mutex_trylock, (GMutex *));
  ok = real_g_mutex_trylock (mutex);
  if (ok)
    __tsan_acquire (mutex);
  return ok;
}

void
g_mutex_unlock (GMutex *mutex)
{
  REAL (void, g_mutex_unlock, (GMutex *));
  __tsan_release (mutex);
  real_g_mutex_unlock (mutex);
}

void
g_rec_mutex_lock (GRecMutex *mutex)
{
  REAL (void, g_rec_mutex_lock, (GRecMutex *));
  real_g_rec_mutex_lock (mutex);
  __tsan_acquire (mutex);
}

void
g_rec_mutex_unlock (GRecMutex *mutex)
{
  REAL (void, g_rec_mutex_unlock, (GRecMutex *));
  __tsan_release (mutex);
  real_g_rec_mutex_unlock (mutex);
}

void
g_cond_wait (GCond  *cond,
             GMutex *mutex)
{
  REAL (void, g_cond_wait, (GCond *, GMutex *));
  __tsan_release (mutex);
  real_g_cond_wait (cond, mutex);
  __tsan_acquire (mutex);
}

gboolean
g_cond_wait_until (GCond  *cond,
                   GMutex *mutex,
                   gint64  end_time)
{
  gboolean ret;
  REAL (gboolean, g_cond_wait_until, (GCond *, GMutex *, gint64));
  __tsan_release (mutex);
  ret = real_g_cond_wait_until (cond, mutex, end_time);
  __tsan_acquire (mutex);
  return ret;
}

void
g_cond_signal (GCond *cond)
{
  REAL (void, g_cond_signal, (GCond *));
  __tsan_release (cond);
  real_g_cond_signal (cond);
}

void
g_cond_broadcast (GCond *cond)
{
  REAL (void, g_cond_broadcast, (GCond *));
  __tsan_release (cond);
  real_g_cond_broadcast (cond);
}
