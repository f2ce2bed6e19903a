/* typed-delegates.vala: syncify, await and invoke_sync from Vala with typed
 * delegates (Syncify-1.metadata and Syncify-1-custom.vala in the vapi)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * 1. invoke_sync<G>: a closure runs on a background context's thread and
 *    its typed result comes back.
 * 2. syncify<G,D>: an _async call started on that thread and finished there,
 *    with typed data and result: the blocking form of an async method.
 * 3. await: the same call, its GLib.AsyncResult handed to the caller, who
 *    finishes it with the method's own .end.
 * 4. syncify<G,D> in plain sync code, through the private context.
 */

static Thread<void*> main_thread;

static bool on_main_thread () {
  return Thread.self<void*> () == main_thread;
}

/* A Syncify.DataStartFunc<File>: starts loading the file. */
static void load_start (File file, Cancellable? cancellable, AsyncReadyCallback callback) {
  file.load_contents_async.begin (cancellable, callback);
}

/* A Syncify.DataFinishFunc<string,File>: finishes it, on the same thread. */
static string load_finish (Object? source, AsyncResult result, File file) throws Error {
  uint8[] contents;

  file.load_contents_async.end (result, out contents, null);
  return "%d bytes, finished on the %s thread".printf (contents.length,
                                                      on_main_thread () ? "main" : "background");
}

int main (string[] args) {
  main_thread = Thread.self<void*> ();
  var file = File.new_for_path (args.length > 1 ? args[1] : "/etc/passwd");
  var bg = new Syncify.Context.thread ("vala-bg");
  var status = 0;

  try {
    /* 1. */
    int calls = 0;
    string where = bg.invoke_sync<string> ((cancellable) => {
      calls++;
      return on_main_thread () ? "main" : "background";
    });
    print ("invoke_sync: the closure ran on the %s thread\n", where);
    if (where != "background" || calls != 1)
      status = 1;

    /* 2. */
    string loaded = bg.syncify<string,File> (Syncify.Flags.NONE, load_start, load_finish, file);
    print ("syncify: %s\n", loaded);
    if (!loaded.has_suffix ("background thread"))
      status = 1;

    /* 3. */
    bool started_on_main = true;
    var result = bg.await (Syncify.Flags.NONE, (cancellable, callback) => {
      started_on_main = on_main_thread ();
      file.load_contents_async.begin (cancellable, callback);
    });
    uint8[] contents;
    file.load_contents_async.end (result, out contents, null);
    print ("await: %d bytes, started on the %s thread\n", contents.length,
           started_on_main ? "main" : "background");
    if (started_on_main)
      status = 1;

    /* 4. */
    loaded = Syncify.Context.get_default ().syncify<string,File> (Syncify.Flags.ALLOW_PRIVATE_CONTEXT,
                                                                  load_start, load_finish, file);
    print ("syncify in sync code: %s\n", loaded);
    if (!loaded.has_suffix ("main thread"))
      status = 1;

    /* Errors come back as Vala errors. */
    try {
      bg.syncify<string,File> (Syncify.Flags.NONE, load_start, load_finish,
                               File.new_for_path ("/nonexistent/file"));
      status = 1;
    } catch (IOError.NOT_FOUND e) {
      print ("a missing file: IOError.NOT_FOUND, as expected\n");
    }
  } catch (Error e) {
    printerr ("failed: %s\n", e.message);
    status = 1;
  }

  bg.shutdown ();
  try {
    bg.invoke_sync<string> ((cancellable) => "never");
    status = 1;
  } catch (Syncify.Error.CLOSED e) {
    print ("after shutdown: Syncify.Error.CLOSED, as expected\n");
  } catch (Error e) {
    printerr ("unexpected error: %s\n", e.message);
    status = 1;
  }

  return status;
}
