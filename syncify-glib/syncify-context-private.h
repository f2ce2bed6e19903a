/* syncify-context-private.h: the SyncifyContext instance struct
 *
 * Only the struct and inline helpers over its fields: the files that implement the
 * context's methods (syncify-asyncify.c, syncify-call.c, syncify-local.c,
 * syncify-context.c) share it, and each reaches the others' functions
 * through their own headers, lower files first.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "syncify-background-private.h"
#include "syncify-cancel-private.h"
#include "syncify-error-private.h"
#include "syncify-inbox-private.h"
#include "syncify-pool-private.h"

G_BEGIN_DECLS

struct _SyncifyContext
{
  GObject             parent_instance;

  /* Immutable after construction. */
  GMainContext       *main_context;   /* (owned) (nullable): NULL only for a
                                       * background context born closed */
  char               *name;           /* (owned) (nullable) */
  gboolean            background;
  SyncifyInbox       *inbox;          /* (owned) (nullable): attached to main_context */
  SyncifyBackground  *bg;             /* (owned) (nullable): background only */
  SyncifyNode         node;           /* in the wait-for graph */
  GError             *init_error;     /* (owned) (nullable): a background context
                                       * whose thread could not be started */

  gboolean            closed;         /* (atomic) */
  SyncifyCancelSet   *cancel;         /* (owned): what shutdown cancels */
  SyncifyPoolGroup    group;          /* protected by the pool's lock */
  SyncifyPoolGroup    binding_group;  /* the bindings' jobs while group has
                                       * no bound; protected by the pool's lock */
  SyncifyTeardownList *teardown;      /* (owned): run once, at shutdown */
};

static inline gboolean
syncify_context_closed (SyncifyContext *self)
{
  return g_atomic_int_get (&self->closed);
}

/* SYNCIFY_ERROR_CLOSED for work @self refuses. */
static inline void
syncify_context_set_closed_error (SyncifyContext  *self,
                                  GError         **error)
{
  char *what = syncify_node_describe (&self->node);

  syncify_error_closed (error, what);
  g_free (what);
}

G_END_DECLS
