// SPDX-License-Identifier: LGPL-2.1-or-later
//
// promise.js: Syncify from a GJS program that runs a main loop, with
// Promises. Gio._promisify() turns await_operation_async()/_finish() into a
// method returning a Promise of the operation's Gio.AsyncResult.
//
// The start function is JavaScript, so it must run on the JS thread: the
// context here is the default one, which this script's main loop runs. On a
// background context (Syncify.Context.new_thread()) the start function would
// have to run on the background thread; GJS refuses to run JS there (it logs
// "Attempting to run a JS callback on a different thread"), so background
// contexts cannot take JavaScript start functions.

imports.gi.versions.Gio = '2.0';
imports.gi.versions.Syncify = '1';
const {GLib, Gio, Syncify} = imports.gi;
const System = imports.system;

Gio._promisify(Syncify.Context.prototype, 'await_operation_async', 'await_operation_finish');

const loop = new GLib.MainLoop(null, false);
const context = Syncify.Context.get_default();
const file = Gio.File.new_for_path(System.programPath);
let status = 1;

async function main() {
    const result = await context.await_operation_async((operation, cancellable) => {
        print(`  the operation starts inside the main loop: ${GLib.MainContext.default().is_owner()}`);
        file.load_contents_async(cancellable, (src, res) => operation.complete(src, res));
    }, null);
    const [ok, contents] = file.load_contents_finish(result);
    print(`read ${contents.length} bytes of ${file.get_basename()}`);

    // Inside the loop, a blocking call still works through the private
    // context (the loop waits meanwhile):
    const again = context.await_operation(Syncify.Flags.ALLOW_PRIVATE_CONTEXT,
        (operation, cancellable) => file.load_contents_async(cancellable, (src, res) => operation.complete(src, res)),
        null);
    const [ok2, contents2] = file.load_contents_finish(again);
    print(`and again, blocking: ${contents2.length} bytes`);
    return ok && ok2 && contents.length === contents2.length;
}

main().then(ok => {
    status = ok ? 0 : 1;
    loop.quit();
}, error => {
    logError(error);
    loop.quit();
});
loop.run();
System.exit(status);
