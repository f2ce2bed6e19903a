/* bench-alloc.c: counting heap allocations in the benchmark program
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The program defines malloc, calloc and realloc itself: the dynamic linker
 * resolves every library's calls (GLib's g_malloc included) to these, which
 * count and forward to glibc's own entry points. Only threads that asked to
 * be tracked count, and only between bench_alloc_start() and
 * bench_alloc_stop(), so idle threads elsewhere in the process add no noise.
 *
 * Sanitizer builds bring their own allocator: there the hooks are left out
 * and bench_alloc_supported() says so. GSlice in GLib 2.74 only calls malloc
 * for every block with G_SLICE=always-malloc, which the benchmark program
 * sets for itself (GLib 2.76 and later always do).
 */

#include <stdlib.h>

#include "bench-alloc.h"

#ifdef BENCH_ALLOC_HOOKS

extern void *__libc_malloc  (size_t size);
extern void *__libc_calloc  (size_t nmemb, size_t size);
extern void *__libc_realloc (void *ptr, size_t size);

static int              counting;   /* (atomic) */
static unsigned long    count;      /* (atomic) */
static __thread int     tracked;

static inline void
count_one (void)
{
  if (tracked && __atomic_load_n (&counting, __ATOMIC_RELAXED))
    __atomic_fetch_add (&count, 1, __ATOMIC_RELAXED);
}

void *
malloc (size_t size)
{
  count_one ();
  return __libc_malloc (size);
}

void *
calloc (size_t nmemb,
        size_t size)
{
  count_one ();
  return __libc_calloc (nmemb, size);
}

void *
realloc (void   *ptr,
         size_t  size)
{
  count_one ();
  return __libc_realloc (ptr, size);
}

gboolean
bench_alloc_supported (void)
{
  return TRUE;
}

void
bench_alloc_track_thread (gboolean track)
{
  tracked = track;
}

void
bench_alloc_start (void)
{
  __atomic_store_n (&count, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n (&counting, 1, __ATOMIC_SEQ_CST);
}

guint64
bench_alloc_stop (void)
{
  __atomic_store_n (&counting, 0, __ATOMIC_SEQ_CST);
  return __atomic_load_n (&count, __ATOMIC_SEQ_CST);
}

#else /* !BENCH_ALLOC_HOOKS */

gboolean
bench_alloc_supported (void)
{
  return FALSE;
}

void
bench_alloc_track_thread (gboolean track)
{
}

void
bench_alloc_start (void)
{
}

guint64
bench_alloc_stop (void)
{
  return 0;
}

#endif
