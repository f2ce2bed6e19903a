/* syncify-demo.vala: syncify-glib from Vala, through the generated
 * syncify-glib-1.vapi
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * 1. asyncify: a main loop hands a blocking function to a worker thread and
 *    gets its result (a GLib.Variant) back on the loop, with Vala's async.
 * 2. syncify in sync code: a Gio _async method called as a blocking call
 *    through the private-context path, with no main loop running.
 * 3. the error when neither a worker nor the flag allows it.
 *
 * Pass a lambda, not the method op.complete, as the AsyncReadyCallback:
 * valac 0.56 refs the target of a method delegate given to .begin() and
 * never drops it, which leaks the operation.
 */

static Thread<void*> main_thread;
static bool worked_on_main_thread = false;
static bool started_on_main_thread = false;
static bool result_on_main_thread = false;

static string describe_thread () {
  return Thread.self<void*> () == main_thread ? "the main thread" : "a worker thread";
}

/* Blocking work, run in a worker: counts the lines of a file. */
static Variant? count_lines (string path, Cancellable? cancellable) throws Error {
  string text;

  print ("  count_lines() runs on %s\n", describe_thread ());
  worked_on_main_thread = Thread.self<void*> () == main_thread;
  FileUtils.get_contents (path, out text);
  return new Variant.uint32 (text.split ("\n").length - 1);
}

static async uint32 count_lines_async (string path) throws Error {
  var context = Syncify.Context.get_default ();
  var result = yield context.asyncify_variant (Syncify.Flags.NONE,
                                               (cancellable) => count_lines (path, cancellable),
                                               null);
  print ("  the result comes back on %s\n", describe_thread ());
  result_on_main_thread = Thread.self<void*> () == main_thread;
  return result.get_uint32 ();
}

int main (string[] args) {
  main_thread = Thread.self<void*> ();
  var file = File.new_for_path (args.length > 1 ? args[1] : "/etc/passwd");
  var status = 0;

  /* 1. asyncify */
  print ("asyncify: a worker counts the lines of %s\n", file.get_path ());
  var loop = new MainLoop ();
  count_lines_async.begin (file.get_path (), (obj, res) => {
    try {
      print ("%u lines\n", count_lines_async.end (res));
    } catch (Error e) {
      printerr ("failed: %s\n", e.message);
      status = 1;
    }
    loop.quit ();
  });
  loop.run ();
  if (worked_on_main_thread || !result_on_main_thread)
    status = 1;

  /* 2. syncify in sync code: no main loop runs now */
  print ("syncify: load_contents_async() as a blocking call\n");
  uint8[] contents;
  try {
    Syncify.OperationStartFunc start = (op, cancellable) => file.load_contents_async.begin (cancellable, (src, res) => op.complete (src, res));
    var result = Syncify.Context.get_default ().await_operation (Syncify.Flags.ALLOW_PRIVATE_CONTEXT, start);
    file.load_contents_async.end (result, out contents, null);
    print ("%d bytes, read on %s\n", contents.length, describe_thread ());

    /* The same, with the start function written out: it runs right here,
     * with the private context as the thread-default one. */
    result = Syncify.Context.get_default ().await_operation (Syncify.Flags.ALLOW_PRIVATE_CONTEXT, (op, cancellable) => {
      started_on_main_thread = Thread.self<void*> () == main_thread &&
                               MainContext.get_thread_default () != null;
      file.load_contents_async.begin (cancellable, (src, res) => op.complete (src, res));
    });
    uint8[] again;
    file.load_contents_async.end (result, out again, null);
    if (again.length != contents.length || !started_on_main_thread)
      status = 1;
  } catch (Error e) {
    printerr ("failed: %s\n", e.message);
    status = 1;
  }

  /* 3. without the flag */
  try {
    Syncify.Context.get_default ().await_operation (Syncify.Flags.NONE, (op, cancellable) => {
      assert_not_reached ();
    });
    status = 1;
  } catch (Syncify.Error.NOT_IN_WORKER e) {
    print ("without ALLOW_PRIVATE_CONTEXT: NOT_IN_WORKER, as expected\n");
  } catch (Error e) {
    printerr ("unexpected error: %s\n", e.message);
    status = 1;
  }

  return status;
}
