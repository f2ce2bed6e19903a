/* bench-alloc.h: counting heap allocations in the benchmark program
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* FALSE when the build cannot interpose malloc (sanitizer builds). */
gboolean bench_alloc_supported     (void);
/* Only allocations made by threads that called this with TRUE count. */
void     bench_alloc_track_thread  (gboolean track);
/* Zeroes the counter and starts counting. */
void     bench_alloc_start         (void);
/* Stops counting; returns how many malloc, calloc and realloc calls the
 * tracked threads made since bench_alloc_start(). */
guint64  bench_alloc_stop          (void);

G_END_DECLS
