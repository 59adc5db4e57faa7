#!/usr/bin/env python3
"""Measure what mutual TLS costs a private inference, against plaintext TCP.

Runs `chimera serve` and `chimera query` (the release binary) for netD at
batch 1 over loopback, alternating TLS and `--insecure-plaintext` so that
both modes see the same machine load, and reports per mode the median (and
min–max) of the client's online latency and session set-up time, the wall
time of the whole client process (connection and TLS handshake included),
the counted application bytes, and the bytes really on the wire, counted by
a relay between client and server in one extra run per mode (the relay
itself adds latency, so timed runs connect directly).

    cargo build --release --bin chimera
    python3 scripts/tls_overhead.py [--runs 9] [--bin target/release/chimera]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ex(name):
    return os.path.join(ROOT, "examples", name)


def relay(upstream, counts):
    """Listen on a free port; relay one connection to `upstream`, counting
    bytes per direction into `counts` = [to_server, to_client]."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)

    def pump(a, b, i):
        while True:
            try:
                data = a.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                try:
                    b.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            counts[i] += len(data)
            b.sendall(data)

    def run():
        c, _ = lst.accept()
        s = socket.create_connection(upstream)
        for sock in (c, s):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = [threading.Thread(target=pump, args=(c, s, 0)),
             threading.Thread(target=pump, args=(s, c, 1))]
        for x in t:
            x.start()
        for x in t:
            x.join()
        c.close()
        s.close()

    threading.Thread(target=run, daemon=True).start()
    return "127.0.0.1:%d" % lst.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "chimera"))
    args = ap.parse_args()
    exe = args.bin
    tmp = tempfile.mkdtemp(prefix="chimera-tls-overhead-")
    plan = os.path.join(tmp, "netD.ron")
    subprocess.run([exe, "compile", ex("netD_chameleon.nn"), "-o", plan],
                   check=True, capture_output=True)
    keys = os.path.join(tmp, "keys")
    for name in ("server", "client"):
        subprocess.run([exe, "keygen", "--name", name, "--out", keys],
                       check=True, capture_output=True)
    flags = {
        "tls": ({"server": ["--identity", f"{keys}/server.crt", "--accept", f"{keys}/client.crt"],
                 "client": ["--identity", f"{keys}/client.crt", "--accept", f"{keys}/server.crt"]}),
        "plaintext": {"server": ["--insecure-plaintext"], "client": ["--insecure-plaintext"]},
    }
    servers = {}
    for mode in flags:
        mat = os.path.join(tmp, "m-" + mode)
        subprocess.run([exe, "dealer", plan, "--queries", str(args.runs + 2), "--quiet",
                        "--out", mat], check=True, capture_output=True)
        p = subprocess.Popen([exe, "serve", plan, "--weights", ex("netD_chameleon.safetensors"),
                              "--material", mat, "--listen", "127.0.0.1:0"] + flags[mode]["server"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        addr = p.stdout.readline().strip().removeprefix("listening on ")
        servers[mode] = (p, addr, mat)

    def query(mode, addr):
        _, _, mat = servers[mode]
        start = time.perf_counter()
        out = subprocess.run([exe, "query", plan, "--input", ex("inputs/mnist_0.npy"),
                              "--material", mat, "--connect", addr, "--json"] + flags[mode]["client"],
                             check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
        m = json.loads(out.stdout)["measured"]
        assert json.loads(out.stdout)["output"][0]["rows"][0] == 7
        return m, wall

    results = {mode: [] for mode in flags}
    wire = {}
    for mode in flags:  # warm-up, and the wire count through the relay
        counts = [0, 0]
        m, _ = query(mode, relay(tuple_addr(servers[mode][1]), counts))
        time.sleep(0.2)
        wire[mode] = (counts, m["online_bytes"] + m["session"]["bytes_sent"] + m["session"]["bytes_received"])
    for _ in range(args.runs):
        for mode in flags:
            results[mode].append(query(mode, servers[mode][1]))
    for p, _, _ in servers.values():
        p.kill()

    def stat(xs):
        return "%.2f ms (%.2f–%.2f)" % (statistics.median(xs) * 1e3, min(xs) * 1e3, max(xs) * 1e3)

    print("| | plaintext TCP | mutual TLS 1.3 |")
    print("|---|---|---|")
    rows = [
        ("online latency, median (min–max)", lambda r: stat([m["online_seconds"] for m, _ in r])),
        ("session set-up (preamble + masked weights)", lambda r: stat([m["setup_seconds"] for m, _ in r])),
        ("client process wall time (start to result)", lambda r: stat([w for _, w in r])),
        ("online bytes counted (application frames)", lambda r: "{:,}".format(r[0][0]["online_bytes"])),
    ]
    for name, f in rows:
        print("| %s | %s | %s |" % (name, f(results["plaintext"]), f(results["tls"])))
    def wire_cell(mode):
        (to_s, to_c), counted = wire[mode]
        return "{:,} (→ server {:,}, → client {:,}); counted {:,}".format(to_s + to_c, to_s, to_c, counted)
    print("| bytes on the wire, whole connection | %s | %s |" % (wire_cell("plaintext"), wire_cell("tls")))
    print("\nruns per mode: %d; load average: %s" % (args.runs, os.getloadavg()))


def tuple_addr(addr):
    host, port = addr.rsplit(":", 1)
    return (host, int(port))


if __name__ == "__main__":
    main()
