/* checksum-file.c: one row of the checksum window
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A ChecksumFile is list-model data, like a widget: it belongs to the main
 * thread. Workers never see it; they get the path (an immutable copy) and
 * report back through syncify_context_invoke_sync(), whose function runs on
 * the main thread and calls the setters below. Every setter notifies, and
 * the column view's expressions follow the notifications.
 */

#include <glib/gi18n.h>

#include "checksum-file.h"

struct _ChecksumFile
{
  GObject         parent_instance;

  char           *name;       /* immutable after construction */
  char           *path;       /* immutable after construction */
  guint64         size;       /* immutable after construction */

  ChecksumStatus  status;
  guint64         bytes_read; /* while HASHING */
  char           *checksum;   /* (nullable) when DONE */
  char           *message;    /* (nullable) when FAILED */
};

G_DEFINE_ENUM_TYPE (ChecksumStatus, checksum_status,
                    G_DEFINE_ENUM_VALUE (CHECKSUM_STATUS_LISTED, "listed"),
                    G_DEFINE_ENUM_VALUE (CHECKSUM_STATUS_QUEUED, "queued"),
                    G_DEFINE_ENUM_VALUE (CHECKSUM_STATUS_HASHING, "hashing"),
                    G_DEFINE_ENUM_VALUE (CHECKSUM_STATUS_DONE, "done"),
                    G_DEFINE_ENUM_VALUE (CHECKSUM_STATUS_FAILED, "failed"),
                    G_DEFINE_ENUM_VALUE (CHECKSUM_STATUS_CANCELLED, "cancelled"))

G_DEFINE_FINAL_TYPE (ChecksumFile, checksum_file, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_NAME,
  PROP_PATH,
  PROP_SIZE,
  PROP_SIZE_TEXT,
  PROP_STATUS,
  PROP_STATUS_TEXT,
  PROP_STATUS_CLASSES,
  PROP_CHECKSUM,
  PROP_MESSAGE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static char *
checksum_file_dup_status_text (ChecksumFile *self)
{
  switch (self->status)
    {
    case CHECKSUM_STATUS_LISTED:
      return g_strdup ("");
    case CHECKSUM_STATUS_QUEUED:
      return g_strdup (_("Queued"));
    case CHECKSUM_STATUS_HASHING:
      if (self->size > 0)
        return g_strdup_printf (_("Hashing… %u %%"),
                                (guint) (100 * MIN (self->bytes_read, self->size) / self->size));
      return g_strdup (_("Hashing…"));
    case CHECKSUM_STATUS_DONE:
      return g_strdup (_("Done"));
    case CHECKSUM_STATUS_FAILED:
      return g_strdup (self->message);
    case CHECKSUM_STATUS_CANCELLED:
      return g_strdup (_("Cancelled"));
    default:
      g_assert_not_reached ();
    }
}

static GStrv
checksum_file_dup_status_classes (ChecksumFile *self)
{
  const char *class = NULL;
  GStrv classes = g_new0 (char *, 2);

  switch (self->status)
    {
    case CHECKSUM_STATUS_DONE:
      class = "success";
      break;
    case CHECKSUM_STATUS_FAILED:
      class = "error";
      break;
    case CHECKSUM_STATUS_HASHING:
      class = "accent";
      break;
    case CHECKSUM_STATUS_QUEUED:
    case CHECKSUM_STATUS_CANCELLED:
      class = "dim-label";
      break;
    case CHECKSUM_STATUS_LISTED:
    default:
      break;
    }

  classes[0] = g_strdup (class);   /* NULL: no class, an empty list */
  return classes;
}

static void
checksum_file_finalize (GObject *object)
{
  ChecksumFile *self = CHECKSUM_FILE (object);

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->checksum, g_free);
  g_clear_pointer (&self->message, g_free);

  G_OBJECT_CLASS (checksum_file_parent_class)->finalize (object);
}

static void
checksum_file_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  ChecksumFile *self = CHECKSUM_FILE (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_SIZE:
      g_value_set_uint64 (value, self->size);
      break;
    case PROP_SIZE_TEXT:
      g_value_take_string (value, g_format_size (self->size));
      break;
    case PROP_STATUS:
      g_value_set_enum (value, self->status);
      break;
    case PROP_STATUS_TEXT:
      g_value_take_string (value, checksum_file_dup_status_text (self));
      break;
    case PROP_STATUS_CLASSES:
      g_value_take_boxed (value, checksum_file_dup_status_classes (self));
      break;
    case PROP_CHECKSUM:
      g_value_set_string (value, self->checksum);
      break;
    case PROP_MESSAGE:
      g_value_set_string (value, self->message);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
checksum_file_class_init (ChecksumFileClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = checksum_file_finalize;
  object_class->get_property = checksum_file_get_property;

  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SIZE] =
    g_param_spec_uint64 ("size", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SIZE_TEXT] =
    g_param_spec_string ("size-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATUS] =
    g_param_spec_enum ("status", NULL, NULL,
                       CHECKSUM_TYPE_STATUS, CHECKSUM_STATUS_LISTED,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATUS_TEXT] =
    g_param_spec_string ("status-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATUS_CLASSES] =
    g_param_spec_boxed ("status-classes", NULL, NULL, G_TYPE_STRV,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CHECKSUM] =
    g_param_spec_string ("checksum", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MESSAGE] =
    g_param_spec_string ("message", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
checksum_file_init (ChecksumFile *self)
{
}

/**
 * checksum_file_new:
 * @folder: the folder that was listed
 * @info: its entry, with standard::name and standard::size
 *
 * Returns: (transfer full): a row in the %CHECKSUM_STATUS_LISTED state
 */
ChecksumFile *
checksum_file_new (GFile     *folder,
                   GFileInfo *info)
{
  ChecksumFile *self = g_object_new (CHECKSUM_TYPE_FILE, NULL);
  g_autoptr(GFile) child = g_file_get_child (folder, g_file_info_get_name (info));

  self->name = g_strdup (g_file_info_get_name (info));
  self->path = g_file_get_path (child);
  self->size = (guint64) g_file_info_get_size (info);

  return self;
}

const char *
checksum_file_get_name (ChecksumFile *self)
{
  g_return_val_if_fail (CHECKSUM_IS_FILE (self), NULL);
  return self->name;
}

const char *
checksum_file_get_path (ChecksumFile *self)
{
  g_return_val_if_fail (CHECKSUM_IS_FILE (self), NULL);
  return self->path;
}

guint64
checksum_file_get_size (ChecksumFile *self)
{
  g_return_val_if_fail (CHECKSUM_IS_FILE (self), 0);
  return self->size;
}

ChecksumStatus
checksum_file_get_status (ChecksumFile *self)
{
  g_return_val_if_fail (CHECKSUM_IS_FILE (self), CHECKSUM_STATUS_LISTED);
  return self->status;
}

const char *
checksum_file_get_checksum (ChecksumFile *self)
{
  g_return_val_if_fail (CHECKSUM_IS_FILE (self), NULL);
  return self->checksum;
}

const char *
checksum_file_get_message (ChecksumFile *self)
{
  g_return_val_if_fail (CHECKSUM_IS_FILE (self), NULL);
  return self->message;
}

/* g_set_str() is GLib 2.76. */
static gboolean
set_str (char       **str_pointer,
         const char  *new_str)
{
  if (g_strcmp0 (*str_pointer, new_str) == 0)
    return FALSE;
  g_free (*str_pointer);
  *str_pointer = g_strdup (new_str);
  return TRUE;
}

/* All the setters: main thread only, like any list-model data. */
static void
checksum_file_set_state (ChecksumFile   *self,
                         ChecksumStatus  status,
                         guint64         bytes_read,
                         const char     *checksum,
                         const char     *message)
{
  gboolean status_changed = self->status != status;
  gboolean text_changed = status_changed || bytes_read != self->bytes_read ||
                          g_strcmp0 (message, self->message) != 0;

  g_object_freeze_notify (G_OBJECT (self));

  self->status = status;
  self->bytes_read = bytes_read;
  if (set_str (&self->checksum, checksum))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CHECKSUM]);
  if (set_str (&self->message, message))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MESSAGE]);
  if (status_changed)
    {
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS_CLASSES]);
    }
  if (text_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS_TEXT]);

  g_object_thaw_notify (G_OBJECT (self));
}

void
checksum_file_set_queued (ChecksumFile *self)
{
  g_return_if_fail (CHECKSUM_IS_FILE (self));
  checksum_file_set_state (self, CHECKSUM_STATUS_QUEUED, 0, NULL, NULL);
}

void
checksum_file_set_hashing (ChecksumFile *self,
                           guint64       bytes_read)
{
  g_return_if_fail (CHECKSUM_IS_FILE (self));
  checksum_file_set_state (self, CHECKSUM_STATUS_HASHING, bytes_read, NULL, NULL);
}

void
checksum_file_set_done (ChecksumFile *self,
                        const char   *checksum)
{
  g_return_if_fail (CHECKSUM_IS_FILE (self));
  g_return_if_fail (checksum != NULL);
  checksum_file_set_state (self, CHECKSUM_STATUS_DONE, self->size, checksum, NULL);
}

void
checksum_file_set_failed (ChecksumFile *self,
                          const char   *message)
{
  g_return_if_fail (CHECKSUM_IS_FILE (self));
  g_return_if_fail (message != NULL);
  checksum_file_set_state (self, CHECKSUM_STATUS_FAILED, 0, NULL, message);
}

void
checksum_file_set_cancelled (ChecksumFile *self)
{
  g_return_if_fail (CHECKSUM_IS_FILE (self));
  checksum_file_set_state (self, CHECKSUM_STATUS_CANCELLED, 0, NULL, NULL);
}
