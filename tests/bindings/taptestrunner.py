# SPDX-License-Identifier: LGPL-2.1-or-later
#
# taptestrunner.py: run Python unittest cases and report them as TAP, for
# `meson test` (protocol: 'tap'). Modelled on GLib's tests/lib/taptestrunner.py,
# but much smaller: one "ok"/"not ok" line per test, diagnostics as "#" lines.
#
#   unittest outcome      TAP line
#   success               ok N - name
#   failure, error        not ok N - name       (+ the traceback as # lines)
#   skip                  ok N - name # SKIP reason
#   expected failure      not ok N - name # TODO reason   (meson: EXPECTEDFAIL)
#   unexpected success    ok N - name # TODO ...          (meson: UNEXPECTEDPASS, a failure)
#
# A module that cannot run at all (no PyGObject) calls skip_all(), which
# prints the "1..0 # SKIP" plan meson reports as a skipped test.

import sys
import unittest


def skip_all(reason, stream=None):
    stream = stream or sys.stdout
    stream.write('1..0 # SKIP %s\n' % reason)
    stream.flush()
    sys.exit(0)


def _name(test):
    # "test_private_path (TestSyncify.test_private_path)" -> "TestSyncify.test_private_path"
    return '%s.%s' % (type(test).__name__, getattr(test, '_testMethodName', str(test)))


def _diagnostics(stream, text):
    for line in text.rstrip('\n').split('\n'):
        stream.write('# %s\n' % line)


class TAPTestResult(unittest.TestResult):
    def __init__(self, stream, descriptions=None, verbosity=1):
        super().__init__(stream, descriptions, verbosity)
        self.stream = stream
        self.number = 0

    def _line(self, ok, test, directive=''):
        self.number += 1
        self.stream.write('%s %d - %s%s\n' % ('ok' if ok else 'not ok',
                                               self.number, _name(test), directive))
        self.stream.flush()

    def startTest(self, test):
        super().startTest(test)
        self.stream.write('# start %s\n' % _name(test))
        self.stream.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        _diagnostics(self.stream, self.failures[-1][1])
        self._line(False, test)

    def addError(self, test, err):
        super().addError(test, err)
        _diagnostics(self.stream, self.errors[-1][1])
        self._line(False, test)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(True, test, ' # SKIP %s' % reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        _diagnostics(self.stream, self.expectedFailures[-1][1])
        reason = getattr(getattr(test, test._testMethodName), '__tap_todo__',
                         'known failure')
        self._line(False, test, ' # TODO %s' % reason)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(True, test, ' # TODO unexpectedly passed: remove the expected-failure mark')


class TAPTestRunner:
    """A unittest runner writing TAP (version 13) to stdout."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def run(self, test):
        count = test.countTestCases()
        self.stream.write('TAP version 13\n1..%d\n' % count)
        self.stream.flush()
        result = TAPTestResult(self.stream)
        test(result)
        return result


def todo(reason):
    """Marks a test as a known failure (unittest.expectedFailure) with the
    reason shown in its TAP "# TODO" directive."""
    def decorate(func):
        func.__tap_todo__ = reason
        return unittest.expectedFailure(func)
    return decorate


def main(module='__main__'):
    """Runs the tests of @module; exits 0 (the TAP lines carry the verdict)."""
    program = unittest.main(module=module, testRunner=TAPTestRunner(), exit=False)
    # A crash or an unhandled problem outside the tests still fails the run:
    # meson sees a missing "ok" line against the plan.
    sys.exit(0 if program.result is not None else 1)
