"""Runs a command on a pseudo-terminal of its own, for the tests of
full-screen programs (`jobworker top`): the command is a session leader
with the pty as its controlling terminal (so it gets SIGWINCH), and this
script relays between the test and the terminal.

  _pty.py ROWS COLUMNS CMD [ARG...]

Reads commands from stdin, one JSON object a line:
  {"keys": "m"}            types the text on the terminal
  {"resize": [ROWS, COLS]} changes the terminal's size (the command gets SIGWINCH)
  {"signal": "TERM"}       sends the signal to the command's process group
  {"modes": true}          asks for the terminal's modes now (the answer below)
Writes to stdout, one JSON object a line:
  {"out": BASE64}          what the command wrote to the terminal
  {"modes": STTY_A}        the terminal's modes as `stty -a` prints them
  {"exit": CODE, "before": STTY, "after": STTY}
                           once the command has exited and its output is read;
                           STTY is `stty -g` of the terminal before the command
                           started and after it ended (its modes, to compare)
Then it exits. If stdin ends (or this gets SIGTERM) first, the command's
process group is killed: nothing outlives the test.
"""
import base64
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios


def main():
    rows, columns = int(sys.argv[1]), int(sys.argv[2])
    command = sys.argv[3:]
    master, slave = pty.openpty()

    def set_size(r, c):
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))

    def stty(*flags):
        return subprocess.run(
            ["stty", *(flags or ["-g"])], stdin=slave, capture_output=True, text=True, check=True
        ).stdout.strip()

    set_size(rows, columns)
    before = stty()

    def controlling_terminal():
        # The new session (start_new_session) takes the pty as its terminal.
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        command,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=controlling_terminal,
    )

    def kill_command(*_):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        sys.exit(1)

    signal.signal(signal.SIGTERM, kill_command)

    def emit(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def drain(timeout):
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                return
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            emit({"out": base64.b64encode(data).decode()})

    stdin = sys.stdin.fileno()
    pending = b""
    stdin_open = True
    while proc.poll() is None:
        watched = [master] + ([stdin] if stdin_open else [])
        ready, _, _ = select.select(watched, [], [], 0.05)
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if data:
                emit({"out": base64.b64encode(data).decode()})
        if stdin_open and stdin in ready:
            chunk = os.read(stdin, 65536)
            if not chunk:
                stdin_open = False
                kill_command()
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if not line.strip():
                    continue
                request = json.loads(line)
                if "keys" in request:
                    os.write(master, request["keys"].encode())
                elif "resize" in request:
                    set_size(*request["resize"])
                    # The kernel signals the foreground process group when the size changes.
                elif "signal" in request:
                    os.killpg(proc.pid, getattr(signal, "SIG" + request["signal"]))
                elif "modes" in request:
                    emit({"modes": stty("-a")})
    drain(0.2)
    emit({"exit": proc.returncode, "before": before, "after": stty()})


if __name__ == "__main__":
    main()
