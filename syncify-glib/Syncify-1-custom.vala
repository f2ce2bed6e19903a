/* Syncify-1-custom.vala: typed Vala forms of syncify, invoke_sync and the
 * functions they take, merged into syncify-glib-1.vapi by vapigen
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

namespace Syncify {
	/* SyncifyThreadFunc, with the result typed: a closure in Vala. */
	[CCode (cheader_filename = "syncify-glib/syncify-glib.h", cname = "SyncifyThreadFunc", instance_pos = 0.9)]
	public delegate G ThreadFunc<G> (GLib.Cancellable? cancellable) throws GLib.Error;

	/* SyncifyStartFunc: starts an _async call with the callback it is
	 * given (pass it to the call's .begin ()). */
	[CCode (cheader_filename = "syncify-glib/syncify-glib.h", cname = "SyncifyStartFunc", instance_pos = 0.9)]
	public delegate void StartFunc (GLib.Cancellable? cancellable, GLib.AsyncReadyCallback callback);

	/* SyncifyStartFunc with its data typed: a static function (or a lambda
	 * that captures nothing), since syncify hands the same data to both. */
	[CCode (cheader_filename = "syncify-glib/syncify-glib.h", cname = "SyncifyStartFunc", has_target = false)]
	public delegate void DataStartFunc<D> (D data, GLib.Cancellable? cancellable, GLib.AsyncReadyCallback callback);

	/* SyncifyFinishFunc with its data and result typed. */
	[CCode (cheader_filename = "syncify-glib/syncify-glib.h", cname = "SyncifyFinishFunc", has_target = false)]
	public delegate G DataFinishFunc<G,D> (GLib.Object? source_object, GLib.AsyncResult result, D data) throws GLib.Error;

	[CCode (cheader_filename = "syncify-glib/syncify-glib.h", type_id = "syncify_context_get_type ()")]
	public sealed class Context : GLib.Object {
		/* syncify_context_invoke_sync (): runs func on the owner of this
		 * context and returns its value (owned). */
		[CCode (cname = "syncify_context_invoke_sync", simple_generics = true)]
		public G invoke_sync<G> ([CCode (delegate_target_pos = 1.5)] Syncify.ThreadFunc<G> func, GLib.Cancellable? cancellable = null) throws GLib.Error;

		/* syncify_context_syncify (): start runs on the owner (or in the
		 * private context), finish inside its completion callback; data is
		 * borrowed by both until the call returns. */
		[CCode (cname = "syncify_context_syncify", simple_generics = true)]
		public G syncify<G,D> (Syncify.Flags flags, Syncify.DataStartFunc<D> start, Syncify.DataFinishFunc<G,D> finish, D data, GLib.Cancellable? cancellable = null) throws GLib.Error;
	}
}
