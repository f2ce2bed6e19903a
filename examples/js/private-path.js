// SPDX-License-Identifier: LGPL-2.1-or-later
//
// private-path.js: a plain, synchronous GJS script (no main loop anywhere)
// calls Gio _async methods and gets their results as if they were blocking
// calls. Each call runs the operation in this thread's private main context
// (Syncify.Flags.ALLOW_PRIVATE_CONTEXT), reused from one call to the next.
//
// Everything here runs on the JS thread, which is all GJS allows: the start
// function and operation.complete() run on it, inside the private context.

imports.gi.versions.Gio = '2.0';
imports.gi.versions.Syncify = '1';
const {GLib, Gio, Syncify} = imports.gi;
const System = imports.system;

// do_sync_work() of the seed, in JS: blocking code that needs an async call.
function doSyncWork(name) {
    const context = Syncify.Context.get_default();
    const result = context.await_operation(Syncify.Flags.ALLOW_PRIVATE_CONTEXT, (operation, cancellable) => {
        // do_async_work(): sleep, then say hello (a Gio.Task completed by a
        // timeout in the private context).
        const task = Gio.Task.new(null, cancellable, (source, res) => operation.complete(source, res));
        const sleep = GLib.timeout_source_new(100);
        sleep.set_callback(() => {
            task.return_value(`Hello, ${name}`);
            return GLib.SOURCE_REMOVE;
        });
        sleep.attach(GLib.MainContext.get_thread_default());
    }, null);
    const [ok, message] = result.propagate_value();
    return ok ? message : null;
}

print('sync script: no main loop, Gio async calls through the private context');
for (const name of ['World', 'again']) {
    const message = doSyncWork(name);
    print(message);
    if (message !== `Hello, ${name}`)
        System.exit(1);
}

// Any Gio _async method, called from sync code:
const file = Gio.File.new_for_path(System.programPath);
const start = (operation, cancellable) => file.load_contents_async(cancellable, (src, res) => operation.complete(src, res));
const result = Syncify.Context.get_default().await_operation(Syncify.Flags.ALLOW_PRIVATE_CONTEXT, start, null);
const [ok, contents] = file.load_contents_finish(result);
print(`read ${contents.length} bytes of ${file.get_basename()}`);

// Without the flag, and no loop running the default context, it is an error:
try {
    Syncify.Context.get_default().await_operation(Syncify.Flags.NONE, start, null);
    System.exit(1);
} catch (e) {
    if (!e.matches(Syncify.error_quark(), Syncify.Error.NOT_IN_WORKER))
        throw e;
    print('without ALLOW_PRIVATE_CONTEXT: Syncify.Error.NOT_IN_WORKER, as expected');
}

System.exit(ok && new TextDecoder().decode(contents).startsWith('// SPDX') ? 0 : 1);
