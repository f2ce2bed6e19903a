/* do-sync-work.h: the blocking function shared by async-program.c and
 * sync-program.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <syncify-glib/syncify-glib.h>

G_BEGIN_DECLS

/* Call once from main(), so that the main thread can be named. */
void        example_init_main_thread (void);
/* "the main thread", or the name of the calling thread. (transfer full) */
char       *example_describe_thread  (void);

/* Blocking: works the same whether it is called from a worker of an async
 * program (the async part is pushed to the main loop) or from plain sync
 * code (the async part runs here, in this thread's private main context). */
char       *do_sync_work             (const char  *name,
                                      GError     **error);

/* The thread that ran the async part of the last do_sync_work() call. */
GThread    *do_async_work_last_thread (void);

G_END_DECLS
