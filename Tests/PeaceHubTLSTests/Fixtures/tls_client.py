#!/usr/bin/env python3
"""A TLS client for the PeaceHubTLS black-box tests, on Python's ssl module (the system OpenSSL).

Prints one JSON object on stdout describing what happened. Modes:
  echo      handshake, send --message (or --size bytes), read the echo back, then unwrap() (close_notify both ways)
  truncate  handshake, send, read the echo, then close the socket without close_notify
  silent    open TCP and send nothing; report when the server closes the connection
  hold      (reload test) connect with --cert and --cert2, echo on both, create --ready-file, wait for
            --go-file, then report whether the --cert2 session was closed and whether --cert still echoes
"""
import argparse
import json
import os
import socket
import ssl
import sys
import time


def context(args, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(args.ca)
    ctx.check_hostname = True
    if args.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def connect(args, cert, key):
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
    return context(args, cert, key).wrap_socket(raw, server_hostname="localhost")


def read_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def failure(error):
    reason = getattr(error, "reason", None)
    return {"result": "error", "reason": reason or type(error).__name__, "error": str(error)}


def echo(args, truncate=False):
    message = args.message.encode() if args.size is None else bytes(i * 7 % 251 for i in range(args.size))
    try:
        sock = connect(args, args.cert, args.key)
        version = sock.version()
        # TLS 1.3: a refused client certificate shows up on the first read (the hub keeps reading after its
        # alert, so writing first does not draw a TCP reset).
        sock.sendall(message)
        reply = read_exactly(sock, len(message))
        if reply != message:
            return {"result": "error", "reason": "EOF", "error": "echo mismatch: %r" % reply[:64]}
        if truncate:
            sock.close()
            return {"result": "ok", "version": version, "truncated": True}
        sock.unwrap()
        sock.close()
        return {"result": "ok", "version": version, "unwrapped": True}
    except (ssl.SSLError, OSError) as error:
        return failure(error)


def silent(args):
    start = time.monotonic()
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
    try:
        data = raw.recv(1)
        return {"result": "closed" if data == b"" else "data", "elapsed": time.monotonic() - start}
    except socket.timeout:
        return {"result": "timeout", "elapsed": time.monotonic() - start}
    except OSError as error:
        return {"result": "closed", "error": str(error), "elapsed": time.monotonic() - start}


def reset(args):
    """Sends a ClientHello, waits for the server's flight and closes without reading it: the kernel resets."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    session = context(args, args.cert, args.key).wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        session.do_handshake()
    except ssl.SSLWantReadError:
        pass
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
    raw.sendall(outgoing.read())
    time.sleep(0.3)
    raw.close()
    return {"result": "ok"}


def stall(args):
    """Sends a message and close_notify (TLS 1.3: its direction only), then holds the socket without reading
    for --timeout seconds."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    session = context(args, args.cert, args.key).wrap_bio(incoming, outgoing, server_hostname="localhost")
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
    while True:
        try:
            session.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            incoming.write(raw.recv(65536))
    session.write(args.message.encode())
    try:
        session.unwrap()
    except ssl.SSLWantReadError:
        pass
    raw.sendall(outgoing.read())
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(args.timeout)
    raw.close()
    return {"result": "ok"}


def hold(args):
    try:
        keep = connect(args, args.cert, args.key)
        drop = connect(args, args.cert2, args.key2)
        for sock in (keep, drop):
            sock.sendall(b"before")
            if read_exactly(sock, 6) != b"before":
                return {"result": "error", "reason": "EOF", "error": "no echo before the reload"}
    except (ssl.SSLError, OSError) as error:
        return failure(error)
    open(args.ready_file, "w").close()
    deadline = time.monotonic() + args.timeout
    while not os.path.exists(args.go_file):
        if time.monotonic() > deadline:
            return {"result": "error", "reason": "timeout", "error": "never told to go on"}
        time.sleep(0.01)
    outcome = {"result": "ok"}
    drop.settimeout(args.timeout)
    try:
        data = drop.recv(1)
        outcome["dropped"] = "closed" if data == b"" else "data"
    except ssl.SSLZeroReturnError:
        outcome["dropped"] = "closed"
    except (ssl.SSLError, OSError) as error:
        outcome["dropped"] = "error: %s" % error
    try:
        keep.sendall(b"after")
        outcome["kept"] = "echo" if read_exactly(keep, 5) == b"after" else "no echo"
        keep.unwrap()
    except (ssl.SSLError, OSError) as error:
        outcome["kept"] = "error: %s" % error
    return outcome


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["echo", "truncate", "silent", "hold", "reset", "stall"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--cert2")
    parser.add_argument("--key2")
    parser.add_argument("--message", default="hello hub")
    parser.add_argument("--size", type=int, help="send SIZE generated bytes instead of --message")
    parser.add_argument("--tls12", action="store_true")
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--ready-file")
    parser.add_argument("--go-file")
    args = parser.parse_args()
    if args.mode == "silent":
        outcome = silent(args)
    elif args.mode == "hold":
        outcome = hold(args)
    elif args.mode == "reset":
        outcome = reset(args)
    elif args.mode == "stall":
        outcome = stall(args)
    else:
        outcome = echo(args, truncate=args.mode == "truncate")
    print(json.dumps(outcome))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
