"""MQTT 3.1.1 scenarios against a running PeaceHub, with paho-mqtt and raw TLS sockets.

Usage: mqtt_scenarios.py SCENARIO --port PORT --pki DIR [--out FILE] [--db FILE]
Exits 0 when the scenario holds; prints what it saw either way.
"""
import argparse
import json
import os
import queue
import socket
import sqlite3
import ssl
import struct
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt

ARGS = None


def fail(message):
    print("FAILED: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def cert_files(who):
    folder = "operators" if who.startswith("operator:") else "contingents"
    name = who.split(":", 1)[1] if who.startswith("operator:") else who
    return (os.path.join(ARGS.pki, folder, name + ".pem"), os.path.join(ARGS.pki, folder, name + ".key"))


class Client:
    """A paho client whose messages, connection results and disconnects land in queues."""

    def __init__(self, who, client_id=None, clean=True, will=None, keepalive=30):
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "t-" + uuid.uuid4().hex[:12],
            clean_session=clean, protocol=mqtt.MQTTv311)
        cert, key = cert_files(who)
        self.client.tls_set(ca_certs=os.path.join(ARGS.pki, "ca.pem"), certfile=cert, keyfile=key)
        if will:
            self.client.will_set(will[0], will[1], qos=0)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_connect = lambda c, u, f, rc, p: self.connacks.put((rc, f.session_present))
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.put(rc)
        self.client.connect("127.0.0.1", ARGS.port, keepalive=keepalive)
        self.client.loop_start()
        rc, present = self.connacks.get(timeout=10)
        self.refused = rc.is_failure
        self.reason = str(rc)
        self.session_present = present

    def subscribe(self, topic, qos=1):
        done = threading.Event()
        granted = []
        self.client.on_subscribe = lambda c, u, mid, codes, p: (granted.extend(codes), done.set())
        self.client.subscribe(topic, qos)
        check(done.wait(10), "no SUBACK for " + topic)
        return granted

    def publish(self, topic, payload, qos=1, retain=False):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)
        check(info.is_published(), "publish on %s not acknowledged" % topic)

    def received(self, count, seconds=10):
        out = []
        deadline = time.time() + seconds
        while len(out) < count and time.time() < deadline:
            try:
                out.append(self.messages.get(timeout=max(deadline - time.time(), 0.01)))
            except queue.Empty:
                break
        return out

    def nothing_within(self, seconds):
        try:
            message = self.messages.get(timeout=seconds)
            fail("unexpected message on %s: %r" % (message.topic, message.payload))
        except queue.Empty:
            pass

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self):
        """Ends the connection without DISCONNECT, as a network failure would."""
        self.client.loop_stop()
        self.client.socket().close()


def envelope(precedence, body):
    return json.dumps({"precedence": precedence, "securityLabel": "UN RESTRICTED", "body": body})


# Scenarios


def qos_flows():
    ind = Client("IND")
    ind.subscribe("contingents/IND/inbox", qos=2)
    kaz = Client("KAZ")
    for qos in (0, 1, 2):
        kaz.publish("contingents/IND/inbox", "q%d" % qos, qos=qos)
    got = ind.received(3)
    check(sorted((m.payload.decode(), m.qos) for m in got) == [("q0", 0), ("q1", 1), ("q2", 2)],
          "inbound QoS: %r" % [(m.payload, m.qos) for m in got])
    # Delivered at the lower of the message's and the subscription's QoS.
    kaz.subscribe("contingents/KAZ/inbox", qos=1)
    ind.publish("contingents/KAZ/inbox", "two-to-one", qos=2)
    got = kaz.received(1)
    check(len(got) == 1 and got[0].qos == 1, "downgraded QoS: %r" % [(m.payload, m.qos) for m in got])
    ind.stop()
    kaz.stop()


def wildcards():
    kaz = Client("KAZ")
    kaz.subscribe("missions/UNIFIL/chat/+", qos=0)
    ind = Client("IND")
    ind.publish("missions/UNIFIL/chat/general", "plus")
    ind.publish("missions/UNIFIL/chat/ops/west", "deep")
    got = [m.payload.decode() for m in kaz.received(2, seconds=3)]
    check(got == ["plus"], "'+' matched %r" % got)
    kaz.subscribe("missions/UNIFIL/chat/#", qos=0)
    ind.publish("missions/UNIFIL/chat/ops/west", "deep")
    got = [m.payload.decode() for m in kaz.received(1)]
    check(got == ["deep"], "'#' matched %r" % got)
    check([c.value for c in kaz.subscribe("#", qos=0)] == [0x80], "'#' was granted")
    kaz.stop()
    ind.stop()


def retained():
    ops = Client("operator:duty")
    ops.publish("hub/broadcast/status", "v1", retain=True)
    ops.publish("hub/broadcast/status", "v2", retain=True)
    first = Client("KAZ")
    first.subscribe("hub/broadcast/#")
    got = first.received(1)
    check(len(got) == 1 and got[0].payload == b"v2" and got[0].retain, "retained: %r" % [(m.payload, m.retain) for m in got])
    ops.publish("hub/broadcast/status", "v3", retain=True)
    got = first.received(1)
    check(len(got) == 1 and got[0].payload == b"v3" and not got[0].retain, "live copy must have retain 0")
    ops.publish("hub/broadcast/status", "", retain=True)
    first.received(1)
    later = Client("IND")
    later.subscribe("hub/broadcast/#")
    later.nothing_within(1.5)
    for client in (ops, first, later):
        client.stop()


def will():
    ind = Client("IND")
    ind.subscribe("missions/UNIFIL/chat/status", qos=0)
    polite = Client("KAZ", will=("missions/UNIFIL/chat/status", "polite gone"))
    polite.stop()
    ind.nothing_within(1.5)
    rude = Client("KAZ", will=("missions/UNIFIL/chat/status", "connection lost"))
    rude.drop()
    got = ind.received(1)
    check([m.payload for m in got] == [b"connection lost"], "will: %r" % [m.payload for m in got])
    ind.stop()


def tls_socket():
    context = ssl.create_default_context(cafile=os.path.join(ARGS.pki, "ca.pem"))
    cert, key = cert_files("KAZ")
    context.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", ARGS.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def mqtt_string(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id="raw", keepalive=30, level=4, name="MQTT", clean=True):
    flags = 0x02 if clean else 0x00
    body = mqtt_string(name) + bytes([level, flags]) + struct.pack("!H", keepalive) + mqtt_string(client_id)
    return bytes([0x10, len(body)]) + body


def closed_by_server(sock, seconds):
    """True when the server closes the connection within `seconds` (reads until EOF)."""
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (socket.timeout, TimeoutError):
        return False
    except (ssl.SSLError, ConnectionResetError, OSError):
        return True


def raw_connected(client_id, keepalive):
    """A raw TLS socket whose 3.1.1 CONNECT was accepted."""
    sock = tls_socket()
    sock.sendall(connect_packet(client_id, keepalive=keepalive))
    check(sock.recv(4) == b"\x20\x02\x00\x00", "no CONNACK")
    return sock


def seconds_until_closed(sock, limit, failure):
    """How long the server took to close `sock`; fails with `failure` when it kept it open for `limit` seconds."""
    started = time.time()
    check(closed_by_server(sock, limit), failure)
    return time.time() - started


def keepalive():
    sock = raw_connected("sleepy", keepalive=1)
    waited = seconds_until_closed(sock, 6, "the hub did not close an idle connection")
    check(1.4 <= waited <= 6.0, "closed after %.2f s; keep-alive 1 s allows 1.5 s" % waited)


def connect_timeout():
    """Run on a hub with mqtt.connectTimeoutSeconds 1: a connection that finishes its TLS handshake and sends no
    CONNECT is closed; one that sends CONNECT in time is answered and stays."""
    silent = tls_socket()
    prompt = raw_connected("prompt", keepalive=0)
    waited = seconds_until_closed(silent, 8, "the hub kept a connection that sent no CONNECT")
    check(waited >= 0.5, "closed after %.2f s; the CONNECT timeout is 1 s" % waited)
    check(not closed_by_server(prompt, 1), "the hub closed a connected client")


def persistent():
    offline = Client("IND", client_id="ind-persistent", clean=False)
    offline.subscribe("contingents/IND/inbox", qos=1)
    offline.stop()
    kaz = Client("KAZ")
    for n in range(3):
        kaz.publish("contingents/IND/inbox", "while offline %d" % n, qos=1)
    kaz.stop()
    back = Client("IND", client_id="ind-persistent", clean=False)
    check(back.session_present, "session present must be 1")
    got = [m.payload.decode() for m in back.received(3)]
    check(got == ["while offline 0", "while offline 1", "while offline 2"], "queued: %r" % got)
    back.stop()
    Client("IND", client_id="ind-persistent", clean=True).stop()


def subscribe_then_publish():
    """A persistent session sends SUBSCRIBE and a PUBLISH on its topic in one write, without waiting for the
    SUBACK (as the Paho interoperability suite does): the message reaches the new subscription, though the
    SUBACK waits for the store."""
    client_id = "kaz-" + uuid.uuid4().hex[:8]
    sock = tls_socket()
    sock.sendall(connect_packet(client_id, clean=False))
    check(sock.recv(4) == b"\x20\x02\x00\x00", "no CONNACK")
    topic = mqtt_string("contingents/KAZ/inbox")
    subscribe = struct.pack("!H", 1) + topic + bytes([1])
    publish = topic + struct.pack("!H", 2) + b"right after"
    sock.sendall(bytes([0x82, len(subscribe)]) + subscribe + bytes([0x32, len(publish)]) + publish)
    received = b""
    deadline = time.time() + 10
    sock.settimeout(1)
    while b"right after" not in received and time.time() < deadline:
        try:
            received += sock.recv(4096)
        except (socket.timeout, TimeoutError):
            pass
    check(b"right after" in received, "the subscription was not yet in force: %r" % received)
    sock.close()
    Client("KAZ", client_id=client_id, clean=True).stop()


def precedence():
    offline = Client("IND", client_id="ind-precedence", clean=False)
    offline.subscribe("contingents/IND/inbox", qos=1)
    offline.stop()
    kaz = Client("KAZ")
    for precedence_name, text in [("ROUTINE", "r1"), ("FLASH", "f1"), ("PRIORITY", "p1"), ("FLASH", "f2"), ("IMMEDIATE", "i1")]:
        kaz.publish("contingents/IND/inbox", envelope(precedence_name, {"text": text}), qos=1)
    kaz.stop()
    back = Client("IND", client_id="ind-precedence", clean=False)
    got = [json.loads(m.payload)["body"]["text"] for m in back.received(5)]
    check(got == ["f1", "f2", "i1", "p1", "r1"], "order: %r" % got)
    back.stop()
    Client("IND", client_id="ind-precedence", clean=True).stop()


def takeover():
    first = Client("KAZ", client_id="kaz-console")
    second = Client("KAZ", client_id="kaz-console")
    check(not second.refused, "the same contingent must be able to take its session over")
    try:
        first.disconnects.get(timeout=5)
    except queue.Empty:
        fail("the first connection was not closed on takeover")
    intruder = Client("IND", client_id="kaz-console")
    check(intruder.refused, "another contingent took over KAZ's session")
    check("authori" in intruder.reason.lower(), "refusal reason: " + intruder.reason)
    intruder.client.loop_stop()
    second.stop()


def routing():
    ind = Client("IND")
    ind.subscribe("missions/UNIFIL/reports/+", qos=1)
    kaz = Client("KAZ")
    kaz.subscribe("contingents/KAZ/notices", qos=1)
    body = {"location": {"lat": 33.2, "lon": 35.4}, "occurredAt": "2026-11-20T08:00:00Z",
            "narrative": "cluster munition found", "uxoType": "CLUSTER_MUNITION", "marked": True, "eodTasked": False}
    kaz.publish("missions/UNIFIL/reports/UXO", envelope("IMMEDIATE", body), qos=1)
    got = ind.received(1)
    check(len(got) == 1, "the valid report was not delivered")
    delivered = json.loads(got[0].payload)
    check(delivered["annotations"]["insideArea"] is True, "annotations: %r" % delivered)
    check(delivered["body"] == body, "body changed")
    # An RFC 3339 offset names the same instant: a contingent may send its own clock's time (India's here).
    local = dict(body, occurredAt="2026-11-20T13:30:00+05:30")
    kaz.publish("missions/UNIFIL/reports/UXO", envelope("IMMEDIATE", local), qos=1)
    got = ind.received(1)
    check(len(got) == 1 and json.loads(got[0].payload)["body"] == local, "the report with an offset: %r" % got)
    del body["location"]
    kaz.publish("missions/UNIFIL/reports/UXO", envelope("IMMEDIATE", body), qos=1)
    ind.nothing_within(1.5)
    notices = [json.loads(m.payload) for m in kaz.received(1)]
    check(notices and notices[0]["event"] == "report-rejected" and "location" in notices[0]["reason"],
          "notice: %r" % notices)
    if ARGS.db:
        rows = sqlite3.connect(ARGS.db).execute("SELECT type, sender FROM archivedReport").fetchall()
        check(("UXO", "KAZ") in rows, "archive: %r" % rows)
    ind.stop()
    kaz.stop()


def authorization():
    tjk = Client("TJK")
    granted = tjk.subscribe("missions/UNIFIL/chat/#", qos=0)
    check([c.value for c in granted] == [0x80], "TJK, not deployed in UNIFIL, subscribed to its chat: %r" % granted)
    tjk.subscribe("contingents/TJK/notices", qos=1)
    tjk.publish("missions/UNIFIL/chat/general", "not mine", qos=1)  # acknowledged, dropped
    notices = [json.loads(m.payload) for m in tjk.received(1)]
    check(notices and notices[0]["event"] == "publish-refused", "notice: %r" % notices)
    tjk.stop()


def chat_access():
    """--who publishes on missions/--mission/chat/general; --expect allowed or refused (a notice)."""
    client = Client(ARGS.who)
    client.subscribe("contingents/%s/notices" % ARGS.who, qos=1)
    client.publish("missions/%s/chat/general" % ARGS.mission, "checking access", qos=1)
    notices = [json.loads(m.payload) for m in client.received(1, seconds=2)]
    refused = any(n["event"] == "publish-refused" for n in notices)
    check(refused == (ARGS.expect == "refused"), "%s on %s: expected %s, notices %r" % (ARGS.who, ARGS.mission, ARGS.expect, notices))
    client.stop()


# Durability: the Swift test runs `stream` in the background, kills the hub with SIGKILL once
# some acknowledgements were written, restarts it, then runs `collect`.


def prepare():
    subscriber = Client("IND", client_id="ind-durable", clean=False)
    subscriber.subscribe("contingents/IND/inbox", qos=2)
    subscriber.stop()


def stream():
    """Publishes up to 800 messages (under the hub's 1000-message session queue), alternating
    QoS 1 and 2, appending each acknowledged number to --out; stops at the first disconnect."""
    publish_until_disconnected(lambda n: 1 if n % 2 else 2)


def stream_live():
    """As stream, at QoS 1 only, with the persistent subscriber connected and acknowledging throughout: its
    PUBACKs may answer the publisher before the hub's store has the message. Each message it receives is appended
    to --out.received before paho acknowledges it."""
    received = open(ARGS.out + ".received", "a", buffering=1)
    subscriber = Client("IND", client_id="ind-durable", clean=False)
    subscriber.client.on_message = lambda c, u, m: received.write(m.payload.decode() + "\n")
    publish_until_disconnected(lambda n: 1)
    subscriber.client.loop_stop()


def publish_until_disconnected(qos_of):
    out = open(ARGS.out, "a", buffering=1)
    try:
        publisher = Client("KAZ", client_id="kaz-durable")
    except Exception as error:  # the hub may already be gone
        print("connect failed: %r" % error)
        return
    for n in range(1, 801):
        qos = qos_of(n)
        if not publisher.disconnects.empty():
            break
        try:
            info = publisher.client.publish("contingents/IND/inbox", "m%d" % n, qos=qos)
            info.wait_for_publish(timeout=3)
            if not info.is_published() or not publisher.disconnects.empty():
                break
        except Exception:
            break
        out.write("%d %d\n" % (n, qos))
    publisher.client.loop_stop()
    print("stream ended", flush=True)


def collect():
    acked = {}
    for line in open(ARGS.out):
        n, qos = line.split()
        acked[int(n)] = int(qos)
    check(len(acked) > 0, "nothing was acknowledged before the kill")
    subscriber = Client("IND", client_id="ind-durable", clean=False)
    check(subscriber.session_present, "the persistent session did not survive the restart")
    seen = {}
    while True:
        got = subscriber.received(1, seconds=3)
        if not got:
            break
        n = int(got[0].payload.decode()[1:])
        seen[n] = seen.get(n, 0) + 1
    if os.path.exists(ARGS.out + ".received"):
        for line in open(ARGS.out + ".received"):
            n = int(line.strip()[1:])
            seen[n] = seen.get(n, 0) + 1
    lost = sorted(n for n in acked if n not in seen)
    duplicated = sorted(n for n, count in seen.items() if count > 1 and acked.get(n) == 2)
    print("acknowledged %d, received %d distinct, lost %d, QoS 2 duplicates %d" % (len(acked), len(seen), len(lost), len(duplicated)))
    check(not lost, "acknowledged but lost: %r" % lost[:20])
    check(not duplicated, "QoS 2 delivered twice: %r" % duplicated[:20])
    subscriber.stop()


def stored_message_ids():
    """The largest message id the broker store has recorded, and its message rows."""
    with sqlite3.connect(ARGS.store) as db:
        return db.execute("SELECT lastMessageID FROM meta").fetchone()[0], db.execute(
            "SELECT COUNT(*) FROM message").fetchone()[0]


def acknowledged_by_subscribers():
    """Run on a hub whose store hold time is far longer than a PUBACK may take here: a QoS 1 message its
    connected persistent subscriber acknowledges is answered at once and never reaches the store; one for a
    subscriber without a connection is stored at once."""
    subscriber = Client("IND", client_id="ind-live", clean=False)
    subscriber.subscribe("contingents/IND/inbox", qos=1)
    before = stored_message_ids()
    kaz = Client("KAZ")
    for n in range(50):
        info = kaz.client.publish("contingents/IND/inbox", "live %d" % n, qos=1)
        info.wait_for_publish(timeout=2.5)
        check(info.is_published(), "PUBACK %d waited for the store hold time" % n)
    got = [m.payload.decode() for m in subscriber.received(50)]
    check(got == ["live %d" % n for n in range(50)], "delivered: %r" % got)
    check(stored_message_ids() == before, "acknowledged messages reached the store: %r -> %r"
          % (before, stored_message_ids()))
    subscriber.stop()
    time.sleep(1)  # the hub has seen the connection end
    info = kaz.client.publish("contingents/IND/inbox", "offline", qos=1)
    info.wait_for_publish(timeout=2.5)
    check(info.is_published(), "the PUBACK for an offline subscriber waited for the store hold time")
    after = stored_message_ids()
    check(after[0] > before[0] and after[1] == before[1] + 1, "not stored for the offline subscriber: %r" % (after,))
    back = Client("IND", client_id="ind-live", clean=False)
    check([m.payload for m in back.received(1)] == [b"offline"], "the offline message did not arrive")
    back.stop()
    kaz.stop()


# Malformed packets on raw TLS connections; after each, a well-behaved client still works.


def malformed():
    utf8_bad = bytes([0x30, 4, 0, 2, 0xC3, 0x28])
    cases = [
        ("bad remaining length", bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])),
        ("invalid UTF-8 topic", utf8_bad),
        ("wildcard in a PUBLISH topic", bytes([0x30, 5, 0, 3]) + b"a/#"),
        ("QoS 3", bytes([0x36, 5, 0, 1]) + b"t" + bytes([0, 1])),
        ("SUBSCRIBE with reserved flags 0", bytes([0x80, 6, 0, 1, 0, 1]) + b"t" + bytes([0])),
        ("oversize packet", bytes([0x30, 0xFF, 0xFF, 0xFF, 0x7F])),
        ("CONNACK from a client", bytes([0x20, 2, 0, 0])),
        ("a second CONNECT", connect_packet("again")),
    ]
    for name, packet in cases:
        sock = tls_socket()
        sock.sendall(connect_packet("raw-" + uuid.uuid4().hex[:6]))
        check(sock.recv(4) == b"\x20\x02\x00\x00", name + ": no CONNACK")
        sock.sendall(packet)
        check(closed_by_server(sock, 5), name + ": the connection stayed open")
        print("closed on " + name, flush=True)
    # Before CONNECT, and a truncated frame followed by the client going away.
    sock = tls_socket()
    sock.sendall(bytes([0x30, 3, 0, 1]) + b"t")
    check(closed_by_server(sock, 5), "PUBLISH before CONNECT: the connection stayed open")
    sock = tls_socket()
    sock.sendall(connect_packet("trunc")[:7])
    sock.close()
    # A client may send before its CONNACK comes: CONNECT, PINGREQ and DISCONNECT in one write get the CONNACK and
    # the PINGRESP before the close (the CONNACK, encoded while the session was stored, was dropped at the close).
    sock = tls_socket()
    sock.sendall(connect_packet("eager-" + uuid.uuid4().hex[:8], clean=False) + bytes([0xC0, 0, 0xE0, 0]))
    received = b""
    sock.settimeout(5)
    try:
        while len(received) < 6:
            chunk = sock.recv(64)
            if not chunk:
                break
            received += chunk
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    check(received == b"\x20\x02\x00\x00\xd0\x00", "CONNECT+PINGREQ+DISCONNECT: got %r" % received)
    # Protocol level 3, and MQTT 3.1 (MQIsdp, level 3), whose clients read the refusal: CONNACK 0x01, then close.
    for name in ["MQTT", "MQIsdp"]:
        sock = tls_socket()
        sock.sendall(connect_packet("old", level=3, name=name))
        check(sock.recv(4) == b"\x20\x02\x00\x01", "%s level 3: expected CONNACK 0x01" % name)
        check(closed_by_server(sock, 5), "%s level 3: the connection stayed open" % name)
    # Everyone else is still served.
    ind = Client("IND")
    ind.subscribe("contingents/IND/inbox")
    kaz = Client("KAZ")
    kaz.publish("contingents/IND/inbox", "still serving")
    check([m.payload for m in ind.received(1)] == [b"still serving"], "the hub stopped serving others")
    ind.stop()
    kaz.stop()


SCENARIOS = {f.__name__: f for f in [qos_flows, wildcards, retained, will, keepalive, persistent, precedence, takeover,
                                      routing, authorization, chat_access, prepare, stream, collect, malformed,
                                      acknowledged_by_subscribers, stream_live, subscribe_then_publish,
                                      connect_timeout]}

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pki", required=True)
    parser.add_argument("--out")
    parser.add_argument("--db")
    parser.add_argument("--store")
    parser.add_argument("--who")
    parser.add_argument("--mission")
    parser.add_argument("--expect", choices=["allowed", "refused"])
    ARGS = parser.parse_args()
    SCENARIOS[ARGS.scenario]()
    print("OK " + ARGS.scenario, flush=True)
