#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The host's side of the guest's device requests (qemu/run.sh starts it).

Follows the VM's console log. On a line "rnvme-host: device_del ID" (the
guest prints it to /dev/console) it connects to QEMU's QMP socket, sends
qmp_capabilities and device_del ID, and waits for the DEVICE_DELETED event of
ID: the guest ejected the device (ACPI PCI hotplug). Every QMP message sent
and received is appended to the QMP log. The guest learns the result by
watching the device go away; failures are reported on stderr.

Usage: qemu/qmp-watch.py CONSOLE_LOG QMP_SOCKET QMP_LOG
Standard library only.
"""

import json
import re
import socket
import sys
import time

REQUEST = re.compile(r"^rnvme-host: device_del ([A-Za-z0-9_-]+)$")
# Seconds for QEMU to answer and for the guest to eject the device.
TIMEOUT = 60


def say(msg):
    print(f"[qmp] {msg}", file=sys.stderr, flush=True)


class Qmp:
    """One QMP session over the unix socket: commands and events."""

    def __init__(self, path, log):
        self.log = log
        self.events = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        greeting = self.recv()
        if "QMP" not in greeting:
            raise RuntimeError(f"not a QMP greeting: {greeting}")

    def close(self):
        self.file.close()
        self.sock.close()

    def send(self, msg):
        line = json.dumps(msg)
        self.log(f">>> {line}")
        self.file.write(line.encode() + b"\n")
        self.file.flush()

    def recv(self):
        line = self.file.readline()
        if not line:
            raise EOFError("QEMU closed the QMP socket")
        self.log(f"<<< {line.decode().rstrip()}")
        return json.loads(line)

    def command(self, name, **arguments):
        """Runs command NAME; returns its result, keeps events seen meanwhile."""
        self.send({"execute": name, "arguments": arguments})
        while True:
            msg = self.recv()
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise RuntimeError(f"{name}: {msg['error'].get('desc', msg['error'])}")
            self.events.append(msg)

    def wait_event(self, name, device):
        """Waits (at most TIMEOUT seconds) for event NAME about DEVICE."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for e in self.events:
                if e.get("event") == name and e.get("data", {}).get("device") == device:
                    return
            self.events.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {name} event for {device} within {TIMEOUT} s")
            self.sock.settimeout(left)
            self.events.append(self.recv())


def device_del(qmp_path, device, log):
    qmp = Qmp(qmp_path, log)
    try:
        qmp.command("qmp_capabilities")
        qmp.command("device_del", id=device)
        qmp.wait_event("DEVICE_DELETED", device)
    finally:
        qmp.close()


def follow(path):
    """Yields the lines of PATH as they are written (waits for the file)."""
    while True:
        try:
            f = open(path, encoding="utf-8", errors="replace")
            break
        except FileNotFoundError:
            time.sleep(0.2)
    partial = ""
    with f:
        while True:
            chunk = f.readline()
            if not chunk:
                time.sleep(0.1)
                continue
            partial += chunk
            if partial.endswith("\n"):
                yield partial.rstrip("\n")
                partial = ""


def main():
    if len(sys.argv) != 4:
        print("usage: qemu/qmp-watch.py CONSOLE_LOG QMP_SOCKET QMP_LOG", file=sys.stderr)
        return 2
    console, qmp_path, qmp_log = sys.argv[1:]
    with open(qmp_log, "a", encoding="utf-8") as logf:

        def log(line):
            logf.write(f"{time.strftime('%H:%M:%S')} {line}\n")
            logf.flush()

        for line in follow(console):
            m = REQUEST.match(line)
            if not m:
                continue
            device = m.group(1)
            say(f"the guest asks for device_del {device}")
            log(f"guest request: device_del {device}")
            try:
                device_del(qmp_path, device, log)
                say(f"{device} deleted (DEVICE_DELETED)")
            except (OSError, EOFError, RuntimeError, ValueError) as e:
                say(f"device_del {device} failed: {e}")
                log(f"failed: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
