#!/usr/bin/env python3
"""Helper of fsck-ask.sh: runs a command on a new pseudo-terminal (its
controlling terminal, and its standard input, output and error), answers
its "[y/N]" prompts, and exits with its exit status.

  fsck-ask.py [--stdout FILE] [--answer PATTERN=REPLY]... -- COMMAND [ARG]...

With --stdout, the command's standard output goes to FILE instead (its
terminal stays its standard input and error, and /dev/tty).

At each prompt, the first PATTERN (a regular expression) found in the
prompt's line (the question) picks the REPLY typed (a line). A prompt that no PATTERN matches is answered "n" and
makes this helper fail (exit 99) once the command has ended. Everything
the command wrote is copied to standard output; each prompt and its reply
also as a line "PROMPT: ...  -> REPLY" on standard error. The command gets
60 s (exit 98 when it takes longer: it is killed)."""
import os
import pty
import re
import select
import signal
import sys
import time

PROMPT = re.compile(rb"\? \[y/N\] $")


def main(argv):
    rules = []
    out = None
    while argv and argv[0] != "--":
        if argv[0] == "--stdout" and len(argv) > 1:
            out = argv[1]
            argv = argv[2:]
        elif argv[0] == "--answer" and len(argv) > 1 and "=" in argv[1]:
            pat, reply = argv[1].split("=", 1)
            rules.append((re.compile(pat.encode()), reply.encode()))
            argv = argv[2:]
        else:
            print("usage: fsck-ask.py [--stdout FILE] [--answer PATTERN=REPLY]... "
                  "-- COMMAND...",
                  file=sys.stderr)
            return 2
    cmd = argv[1:]
    if not cmd:
        print("fsck-ask.py: no command", file=sys.stderr)
        return 2
    pid, fd = pty.fork()
    if pid == 0:
        try:
            if out is not None:
                os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 1)
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    unmatched = 0
    pending = b""  # since the last prompt
    deadline = time.monotonic() + 60
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print("fsck-ask.py: the command took more than 60 s", file=sys.stderr)
            return 98
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the command closed its terminal
            data = b""
        if not data:
            break
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        pending += data
        if PROMPT.search(pending):
            last = pending.splitlines()[-1]
            reply = None
            for pat, rep in rules:
                if pat.search(last):
                    reply = rep
                    break
            if reply is None:
                unmatched += 1
                reply = b"n"
            last = last.rstrip().decode(errors="replace")
            print("PROMPT: %s -> %s" % (last, reply.decode()), file=sys.stderr)
            os.write(fd, reply + b"\n")
            pending = b""
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    if unmatched:
        print("fsck-ask.py: %d prompt(s) matched no --answer" % unmatched,
              file=sys.stderr)
        return 99
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
