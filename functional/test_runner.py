#!/usr/bin/env python3
"""Runs sidebolt's functional tests.

    functional/test_runner.py [-j JOBS] [--timeout SECONDS] [TEST ...]

Without names it runs every functional/*_test.py. Tests run in parallel,
each in its own process group with a timeout; one line is printed per test,
failures are followed by the test's output, and the last line is exactly
"N passed, M failed" (plus ", K skipped" when any were skipped). The exit
code is non-zero when any test failed or timed out.
"""

import argparse
import glob
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXIT_SKIPPED = 77


def discover(names):
    if not names:
        return sorted(glob.glob(os.path.join(HERE, "*_test.py")))
    paths = []
    for name in names:
        candidates = [name, os.path.join(HERE, name), os.path.join(HERE, name + ".py")]
        path = next((c for c in candidates if os.path.isfile(c)), None)
        if path is None:
            sys.exit(f"unknown test: {name}")
        paths.append(os.path.abspath(path))
    return paths


class Job:
    def __init__(self, path, tmpdir, extra_args):
        self.path = path
        self.name = os.path.basename(path)
        self.output = tempfile.TemporaryFile()
        self.started = time.monotonic()
        self.killed_at = None
        self.timed_out = False
        # Own session: a timeout or Ctrl-C kills the test and every node it started.
        self.proc = subprocess.Popen([sys.executable, path, f"--tmpdir={tmpdir}"] + extra_args,
                                     stdin=subprocess.DEVNULL, stdout=self.output, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def elapsed(self):
        return time.monotonic() - self.started

    def signal_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def enforce_timeout(self, timeout):
        if self.killed_at is None and self.elapsed() > timeout:
            self.timed_out = True
            self.killed_at = time.monotonic()
            self.signal_group(signal.SIGTERM)
        elif self.killed_at is not None and time.monotonic() - self.killed_at > 10:
            self.signal_group(signal.SIGKILL)

    def text(self):
        self.output.seek(0)
        return self.output.read().decode("utf-8", "replace")


def skip_reason(text):
    """The reason a skipped test logged ("... skipped: REASON"), for the one-line report."""
    for line in reversed(text.splitlines()):
        _, sep, reason = line.partition("] skipped: ")
        if sep:
            return reason.strip()
    return ""


def status_of(job):
    if job.timed_out:
        return "timeout"
    if job.proc.returncode == 0:
        return "passed"
    if job.proc.returncode == EXIT_SKIPPED:
        return "skipped"
    return "failed"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tests", nargs="*", help="test files (default: all functional/*_test.py)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="tests to run in parallel (default 2)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a test is killed (default 900)")
    parser.add_argument("--tmpdir", default=os.environ.get("TMPDIR") or tempfile.gettempdir(),
                        help="root for per-test run directories")
    parser.add_argument("--backend", choices=["bitcoind", "standin"], help="force the regtest backend")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print the output of passing tests")
    args = parser.parse_args()

    paths = discover(args.tests)
    extra = [f"--backend={args.backend}"] if args.backend else []
    pending = list(paths)
    running = []
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    width = max((len(os.path.basename(p)) for p in paths), default=10) + 2
    try:
        while pending or running:
            while pending and len(running) < max(1, args.jobs):
                running.append(Job(pending.pop(0), args.tmpdir, extra))
            time.sleep(0.05)
            for job in list(running):
                job.enforce_timeout(args.timeout)
                if job.proc.poll() is None:
                    continue
                running.remove(job)
                status = status_of(job)
                counts["failed" if status == "timeout" else status] += 1
                output = job.text().rstrip()
                reason = f"  ({skip_reason(output)})" if status == "skipped" and skip_reason(output) else ""
                print(f"{job.name:<{width}}{status:<8}{job.elapsed():7.1f} s{reason}", flush=True)
                if output and (status in ("failed", "timeout") or args.verbose):
                    print("\n".join("    " + line for line in output.splitlines()), flush=True)
                job.output.close()
    except KeyboardInterrupt:
        for job in running:
            job.signal_group(signal.SIGKILL)
        print("interrupted", flush=True)
        counts["failed"] += len(running) + len(pending)

    summary = f"{counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        summary += f", {counts['skipped']} skipped"
    print(summary, flush=True)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
