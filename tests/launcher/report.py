"""Runs the launcher's tests (test_*.py in this folder, or the tests named as arguments) and reports each as one line
of JSON on stdout: {"id": "test_launcher.WholeLauncherTests.test_...", "outcome": "passed" | "failed" | "skipped", "detail": "..."}.
tests/Executor.EndToEndTests/LauncherTests.cs runs it inside the runtime image, as PID 1 of a container of its own, and
makes one xunit case of each line. unittest's own report goes to stderr; the exit code is 1 when a test failed."""
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class Report(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcomes.setdefault(test.id(), ("passed", ""))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[test.id()] = ("failed", self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[test.id()] = ("failed", self.errors[-1][1])

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcomes[test.id()] = ("skipped", reason)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:  # the case's name is in the detail; the test is the one that failed
            detail = (self.failures or self.errors)[-1][1]
            previous = self.outcomes.get(test.id(), ("failed", ""))[1]
            self.outcomes[test.id()] = ("failed", f"{previous}{subtest.id()}\n{detail}\n")


def main():
    # Named tests (module.Class...) only, if given: the data runtime's image runs the cases that need its packages.
    if len(sys.argv) > 1:
        sys.path.insert(0, HERE)
        suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:])
    else:
        suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=Report).run(suite)
    for test_id, (outcome, detail) in sorted(result.outcomes.items()):
        print(json.dumps({"id": test_id, "outcome": outcome, "detail": detail}), flush=True)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
