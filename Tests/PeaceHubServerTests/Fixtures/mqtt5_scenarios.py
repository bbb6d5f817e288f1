"""MQTT 5.0 acceptance scenarios against a running PeaceHub, with paho-mqtt and raw TLS sockets.

Usage: mqtt5_scenarios.py SCENARIO --port PORT --pki DIR [--limit N] [--max-packet N] [--out FILE] [--reference]
Exits 0 and prints "OK <scenario>" when the scenario holds; prints what it saw either way.

Written from the OASIS MQTT 5.0 standard (statement numbers such as [MQTT-3.3.2-5] and section numbers in the
comments) and the hub's MQTT 5 decisions; "HUB" marks a choice the standard leaves to the server.

--limit N        the hub's mqtt.maximumConnectionsPerPrincipal (connack_codes checks it when given)
--max-packet N   the hub's mqtt.maximumPacketSize (server_disconnects checks it when given)
--out FILE       where session_expiry_prepare leaves its state for session_expiry_resume
--reference      the server is a reference broker (mosquitto 2.0.11, require_certificate, use_identity_as_username,
                 no ACL), not the hub: the checks it cannot or does not follow (the hub's authorization and mission
                 modules, HUB choices it does not share, its deviations from the standard, each named where it is
                 checked) are skipped, with a line that says so
"""
import argparse
import collections
import json
import os
import queue
import socket
import ssl
import struct
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

ARGS = None
# How long to wait for something that should happen: generous, the machine is shared and slow.
TIMEOUT = 10


def fail(message):
    print("FAILED: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def say(message):
    print(message, flush=True)


def on_hub(what):
    """True on the hub. On a reference run False, with a line naming what is skipped and why: the hub's
    authorization or mission modules, a HUB choice the reference broker does not share, or its deviation from the
    standard."""
    if ARGS.reference:
        say("skipped on the reference broker: " + what)
        return False
    return True


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def chat(name):
    """A fresh topic in UNIFIL's chat, where KAZ and IND (both deployed in UNIFIL) may publish and subscribe."""
    return "missions/UNIFIL/chat/" + unique(name)


def cert_files(who):
    folder = "operators" if who.startswith("operator:") else "contingents"
    name = who.split(":", 1)[1] if who.startswith("operator:") else who
    return (os.path.join(ARGS.pki, folder, name + ".pem"), os.path.join(ARGS.pki, folder, name + ".key"))


def tls_socket(who):
    context = ssl.create_default_context(cafile=os.path.join(ARGS.pki, "ca.pem"))
    context.load_cert_chain(*cert_files(who))
    raw = socket.create_connection(("127.0.0.1", ARGS.port), timeout=TIMEOUT)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


# The MQTT 5.0 wire format, enough of it to write any packet, well formed or not, and to read what a server sends.

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP",
                8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
                14: "DISCONNECT", 15: "AUTH"}

# Property identifiers (section 2.2.2.2); PROPERTIES gives each one's name and data type.
PAYLOAD_FORMAT_INDICATOR = 0x01
MESSAGE_EXPIRY_INTERVAL = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY_INTERVAL = 0x11
ASSIGNED_CLIENT_IDENTIFIER = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTHENTICATION_METHOD = 0x15
AUTHENTICATION_DATA = 0x16
REQUEST_PROBLEM_INFORMATION = 0x17
WILL_DELAY_INTERVAL = 0x18
REQUEST_RESPONSE_INFORMATION = 0x19
RESPONSE_INFORMATION = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
SHARED_SUBSCRIPTION_AVAILABLE = 0x2A

PROPERTIES = {
    PAYLOAD_FORMAT_INDICATOR: ("Payload Format Indicator", "byte"),
    MESSAGE_EXPIRY_INTERVAL: ("Message Expiry Interval", "four"),
    CONTENT_TYPE: ("Content Type", "string"),
    RESPONSE_TOPIC: ("Response Topic", "string"),
    CORRELATION_DATA: ("Correlation Data", "binary"),
    SUBSCRIPTION_IDENTIFIER: ("Subscription Identifier", "varint"),
    SESSION_EXPIRY_INTERVAL: ("Session Expiry Interval", "four"),
    ASSIGNED_CLIENT_IDENTIFIER: ("Assigned Client Identifier", "string"),
    SERVER_KEEP_ALIVE: ("Server Keep Alive", "two"),
    AUTHENTICATION_METHOD: ("Authentication Method", "string"),
    AUTHENTICATION_DATA: ("Authentication Data", "binary"),
    REQUEST_PROBLEM_INFORMATION: ("Request Problem Information", "byte"),
    WILL_DELAY_INTERVAL: ("Will Delay Interval", "four"),
    REQUEST_RESPONSE_INFORMATION: ("Request Response Information", "byte"),
    RESPONSE_INFORMATION: ("Response Information", "string"),
    SERVER_REFERENCE: ("Server Reference", "string"),
    REASON_STRING: ("Reason String", "string"),
    RECEIVE_MAXIMUM: ("Receive Maximum", "two"),
    TOPIC_ALIAS_MAXIMUM: ("Topic Alias Maximum", "two"),
    TOPIC_ALIAS: ("Topic Alias", "two"),
    MAXIMUM_QOS: ("Maximum QoS", "byte"),
    RETAIN_AVAILABLE: ("Retain Available", "byte"),
    USER_PROPERTY: ("User Property", "pair"),
    MAXIMUM_PACKET_SIZE: ("Maximum Packet Size", "four"),
    WILDCARD_SUBSCRIPTION_AVAILABLE: ("Wildcard Subscription Available", "byte"),
    SUBSCRIPTION_IDENTIFIER_AVAILABLE: ("Subscription Identifier Available", "byte"),
    SHARED_SUBSCRIPTION_AVAILABLE: ("Shared Subscription Available", "byte"),
}


class Malformed(Exception):
    """Bytes from the server that cannot be parsed."""


class Truncated(Malformed):
    """Not all of a packet has arrived yet."""


def varint(value):
    """A Variable Byte Integer (section 1.5.5): 7 bits a byte, least significant first, high bit = more."""
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data, pos):
    value = 0
    for index in range(4):
        if pos >= len(data):
            raise Truncated("variable byte integer")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return value, pos
    raise Malformed("variable byte integer longer than 4 bytes")


def string(value):
    """A UTF-8 Encoded String or Binary Data (sections 1.5.4, 1.5.6): a two-byte length, then the bytes."""
    data = value.encode() if isinstance(value, str) else bytes(value)
    return struct.pack("!H", len(data)) + data


def read_string(data, pos, binary=False):
    if pos + 2 > len(data):
        raise Malformed("truncated string length")
    length = struct.unpack_from("!H", data, pos)[0]
    if pos + 2 + length > len(data):
        raise Malformed("string beyond the packet")
    raw = bytes(data[pos + 2:pos + 2 + length])
    try:
        return (raw if binary else raw.decode("utf-8")), pos + 2 + length
    except UnicodeDecodeError:
        raise Malformed("invalid UTF-8: %r" % raw)


def encode_property(identifier, value):
    kind = PROPERTIES[identifier][1]
    if kind == "byte":
        encoded = bytes([value])
    elif kind == "two":
        encoded = struct.pack("!H", value)
    elif kind == "four":
        encoded = struct.pack("!I", value)
    elif kind == "varint":
        encoded = varint(value)
    elif kind == "pair":
        encoded = string(value[0]) + string(value[1])
    else:
        encoded = string(value)
    return varint(identifier) + encoded


def properties(pairs=()):
    """Property Length and properties (section 2.2.2) from (identifier, value) pairs, in order, repeats allowed;
    bytes are taken as already encoded (length included), for malformed cases."""
    if isinstance(pairs, bytes):
        return pairs
    body = b"".join(encode_property(identifier, value) for identifier, value in pairs)
    return varint(len(body)) + body


def read_properties(data, pos):
    length, pos = read_varint(data, pos)
    end = pos + length
    if end > len(data):
        raise Malformed("property length %d beyond the packet" % length)
    found = []
    try:
        while pos < end:
            identifier, pos = read_varint(data, pos)
            if identifier not in PROPERTIES:
                raise Malformed("unknown property 0x%02x" % identifier)
            kind = PROPERTIES[identifier][1]
            if kind == "byte":
                value, pos = data[pos], pos + 1
            elif kind == "two":
                value, pos = struct.unpack_from("!H", data, pos)[0], pos + 2
            elif kind == "four":
                value, pos = struct.unpack_from("!I", data, pos)[0], pos + 4
            elif kind == "varint":
                value, pos = read_varint(data, pos)
            elif kind == "pair":
                name, pos = read_string(data, pos)
                text, pos = read_string(data, pos)
                value = (name, text)
            else:
                value, pos = read_string(data, pos, binary=kind == "binary")
            found.append((identifier, value))
    except (IndexError, struct.error):
        raise Malformed("property beyond its length")
    if pos != end:
        raise Malformed("properties overrun their length")
    return found, end


class Packet:
    """A control packet from the server, its variable header decoded."""

    def __init__(self, kind, flags, body):
        self.kind, self.flags, self.body = kind, flags, bytes(body)
        self.properties = []
        self.reason = 0
        self.packet_id = None
        try:
            self._decode()
        except (IndexError, struct.error):
            raise Malformed("short %s: %r" % (PACKET_NAMES.get(kind), self.body))

    def _decode(self):
        body = self.body
        if self.kind == CONNACK:
            self.session_present = bool(body[0] & 1)
            self.ack_flags = body[0]
            self.reason = body[1]
            if len(body) > 2:
                self.properties, _ = read_properties(body, 2)
        elif self.kind == PUBLISH:
            self.qos, self.retain, self.dup = (self.flags >> 1) & 3, bool(self.flags & 1), bool(self.flags & 8)
            self.topic, pos = read_string(body, 0)
            if self.qos:
                self.packet_id = struct.unpack_from("!H", body, pos)[0]
                pos += 2
            self.properties, pos = read_properties(body, pos)
            self.payload = body[pos:]
        elif self.kind in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.packet_id = struct.unpack_from("!H", body, 0)[0]
            self.reason = body[2] if len(body) > 2 else 0
            if len(body) > 3:
                self.properties, _ = read_properties(body, 3)
        elif self.kind in (SUBACK, UNSUBACK):
            self.packet_id = struct.unpack_from("!H", body, 0)[0]
            self.properties, pos = read_properties(body, 2)
            self.reasons = list(body[pos:])
        elif self.kind in (DISCONNECT, AUTH):
            self.reason = body[0] if body else 0
            if len(body) > 1:
                self.properties, _ = read_properties(body, 1)

    def property(self, identifier, default=None):
        return next((value for key, value in self.properties if key == identifier), default)

    def all(self, identifier):
        return [value for key, value in self.properties if key == identifier]

    def __repr__(self):
        parts = []
        if self.kind == PUBLISH:
            parts.append("topic=%r qos=%d retain=%d" % (self.topic, self.qos, self.retain))
        if self.packet_id is not None:
            parts.append("id=%d" % self.packet_id)
        if self.kind in (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT, AUTH):
            parts.append("reason=0x%02x" % self.reason)
        if self.kind == CONNACK:
            parts.append("session_present=%d" % self.session_present)
        if self.kind in (SUBACK, UNSUBACK):
            parts.append("reasons=[%s]" % ", ".join("0x%02x" % r for r in self.reasons))
        if self.properties:
            parts.append("properties=[%s]" % ", ".join("%s=%r" % (PROPERTIES[key][0], value)
                                                        for key, value in self.properties))
        if self.kind == PUBLISH:
            parts.append("payload=%r" % self.payload[:80])
        return "%s(%s)" % (PACKET_NAMES.get(self.kind, "type %d" % self.kind), ", ".join(parts))


def frame(kind, flags, body):
    return bytes([kind << 4 | flags]) + varint(len(body)) + body


def connect_packet(client_id="", clean_start=True, keepalive=30, props=(), will=None, level=5):
    """CONNECT (section 3.1). `will` is a dict: topic, payload, and optionally props, qos, retain."""
    flags = 0x02 if clean_start else 0
    payload = string(client_id)
    if will:
        flags |= 0x04 | will.get("qos", 0) << 3 | (0x20 if will.get("retain") else 0)
        payload += properties(will.get("props", ())) + string(will["topic"]) + string(will["payload"])
    body = string("MQTT") + bytes([level, flags]) + struct.pack("!H", keepalive) + properties(props) + payload
    return frame(CONNECT, 0, body)


def publish_packet(topic, payload=b"", qos=0, packet_id=None, props=(), retain=False, dup=False):
    flags = (8 if dup else 0) | qos << 1 | (1 if retain else 0)
    data = payload.encode() if isinstance(payload, str) else payload
    body = string(topic) + (struct.pack("!H", packet_id) if qos else b"") + properties(props) + data
    return frame(PUBLISH, flags, body)


def options(qos=1, no_local=False, retain_as_published=False, retain_handling=0):
    """A Subscription Options byte (section 3.8.3.1)."""
    return qos | (4 if no_local else 0) | (8 if retain_as_published else 0) | retain_handling << 4


def subscribe_packet(packet_id, subscriptions, props=()):
    """SUBSCRIBE of (topic filter, options byte) pairs."""
    payload = b"".join(string(topic_filter) + bytes([option]) for topic_filter, option in subscriptions)
    return frame(SUBSCRIBE, 0x02, struct.pack("!H", packet_id) + properties(props) + payload)


def ack_packet(kind, packet_id, reason=0, props=()):
    """PUBACK, PUBREC, PUBREL or PUBCOMP."""
    body = struct.pack("!H", packet_id) + bytes([reason]) + properties(props)
    return frame(kind, 0x02 if kind == PUBREL else 0, body)


def disconnect_packet(reason=0, props=()):
    return frame(DISCONNECT, 0, bytes([reason]) + properties(props))


PINGREQ_PACKET = frame(PINGREQ, 0, b"")


class Closed(Exception):
    """The server closed the connection."""


class RawClient:
    """One TLS connection speaking MQTT 5.0 byte by byte: for what paho hides or will not send."""

    def __init__(self, who="KAZ"):
        self.who = who
        self.sock = tls_socket(who)
        self.pending = b""
        self.closed = False
        self.next_id = 0

    def send(self, data):
        self.sock.sendall(data)

    def packet_id(self):
        self.next_id = self.next_id % 65535 + 1
        return self.next_id

    def read(self, seconds=TIMEOUT):
        """The next packet; None when none came within `seconds`; raises Closed once the server has closed."""
        deadline = time.time() + seconds
        while True:
            packet = self._take()
            if packet is not None:
                return packet
            if self.closed:
                raise Closed()
            remaining = deadline - time.time()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            except (ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
            self.pending += data

    def _take(self):
        if len(self.pending) < 2:
            return None
        try:
            length, start = read_varint(self.pending, 1)
        except Truncated:
            return None
        except Malformed as error:
            fail("%s: the server sent a bad remaining length: %s" % (self.who, error))
        if len(self.pending) < start + length:
            return None
        first, body = self.pending[0], self.pending[start:start + length]
        self.pending = self.pending[start + length:]
        try:
            return Packet(first >> 4, first & 0x0F, body)
        except Malformed as error:
            fail("%s: the server sent a malformed %s: %s" % (self.who, PACKET_NAMES.get(first >> 4), error))

    def expect(self, kind, seconds=TIMEOUT):
        """The next packet, which must be a `kind`."""
        try:
            packet = self.read(seconds)
        except Closed:
            fail("%s: the server closed the connection; expected %s" % (self.who, PACKET_NAMES[kind]))
        check(packet is not None, "%s: no %s within %d s" % (self.who, PACKET_NAMES[kind], seconds))
        check(packet.kind == kind, "%s: expected %s, got %r" % (self.who, PACKET_NAMES[kind], packet))
        return packet

    def connect(self, client_id=None, clean_start=True, keepalive=30, props=(), will=None):
        """Sends CONNECT; returns the CONNACK, whatever its reason code."""
        self.client_id = unique("raw") if client_id is None else client_id
        self.send(connect_packet(self.client_id, clean_start, keepalive, props, will))
        connack = self.expect(CONNACK)
        check(len(connack.body) > 2 or connack.reason >= 0x80,
              "%s: a 3.1.1-format CONNACK 0x%02x: the server refused MQTT 5.0 (protocol level 5)"
              % (self.who, connack.reason))
        return connack

    def connected(self, client_id=None, clean_start=True, keepalive=30, props=(), will=None):
        """Connects; the CONNACK must be a success."""
        connack = self.connect(client_id, clean_start, keepalive, props, will)
        check(connack.reason == 0, "%s: CONNACK %r" % (self.who, connack))
        return connack

    def publish(self, topic, payload, qos=1, props=(), retain=False):
        """Sends a PUBLISH; returns its packet id (QoS 1 and 2)."""
        packet_id = self.packet_id() if qos else None
        self.send(publish_packet(topic, payload, qos, packet_id, props, retain))
        return packet_id

    def subscribe(self, subscriptions, props=()):
        """Sends SUBSCRIBE for (filter, options) pairs; returns the SUBACK."""
        packet_id = self.packet_id()
        self.send(subscribe_packet(packet_id, subscriptions, props))
        suback = self.expect(SUBACK)
        check(suback.packet_id == packet_id, "SUBACK for the wrong packet id: %r" % suback)  # [MQTT-3.8.4-2]
        return suback

    def ping(self):
        """PINGREQ and its PINGRESP [MQTT-3.12.4-1]: the connection is open and served."""
        self.send(PINGREQ_PACKET)
        self.expect(PINGRESP)

    def ending(self, seconds=TIMEOUT):
        """Every packet until the server closes the connection, which it must do within `seconds`."""
        packets = []
        deadline = time.time() + seconds
        while True:
            try:
                packet = self.read(max(deadline - time.time(), 0))
            except Closed:
                return packets
            if packet is None:
                fail("%s: the connection stayed open for %d s (received %r)" % (self.who, seconds, packets))
            packets.append(packet)

    def disconnected_by_server(self, reason, what, seconds=TIMEOUT):
        """The server sends DISCONNECT with `reason`, then closes the connection: after a Malformed Packet or a
        Protocol Error it MUST close [MQTT-4.13.1-1] and SHOULD send DISCONNECT first (section 4.13.1), which the
        hub always does; after DISCONNECT nothing more may come [MQTT-3.14.4-1] and the sender closes
        [MQTT-3.14.4-2]."""
        packets = self.ending(seconds)
        disconnects = [p for p in packets if p.kind == DISCONNECT]
        check(disconnects, "%s: closed without DISCONNECT 0x%02x (got %r)" % (what, reason, packets))
        check(packets[-1].kind == DISCONNECT, "%s: packets after DISCONNECT: %r" % (what, packets))
        check(disconnects[-1].reason == reason, "%s: DISCONNECT 0x%02x, expected 0x%02x (%r)"
              % (what, disconnects[-1].reason, reason, disconnects[-1]))
        say("%s: DISCONNECT 0x%02x %s, then closed" % (what, reason, disconnects[-1].property(REASON_STRING, "")))

    def refused(self, reason, what):
        """The server answered CONNECT with CONNACK `reason` (>= 0x80) and closed the connection [MQTT-3.2.2-7],
        session present 0 [MQTT-3.2.2-6], no DISCONNECT before a successful CONNACK [MQTT-3.14.0-1]."""
        connack = self.expect(CONNACK)
        check(connack.reason == reason, "%s: CONNACK 0x%02x, expected 0x%02x (%r)"
              % (what, connack.reason, reason, connack))
        check(not connack.session_present, "%s: session present 1 with a refusal" % what)
        packets = self.ending()
        check(not packets, "%s: packets after a refusing CONNACK: %r" % (what, packets))
        say("%s: CONNACK 0x%02x %s, then closed" % (what, reason, connack.property(REASON_STRING, "")))
        return connack

    def close(self):
        """DISCONNECT 0x00, then waits for the server to close: it has then processed the disconnection."""
        try:
            self.send(disconnect_packet())
            self.ending()
        except OSError:
            pass
        self.sock.close()

    def drop(self):
        """Ends the connection without DISCONNECT, as a network failure would."""
        self.sock.close()


class Client:
    """A paho-mqtt client, MQTT 5.0 (or 3.1.1 with protocol=4), whose messages, acknowledgements and DISCONNECTs
    land in queues."""

    def __init__(self, who, client_id=None, clean_start=True, props=None, keepalive=30, protocol=5):
        self.who = who
        self.protocol = protocol
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.acks = {}
        self.acked = threading.Condition()
        self.client_id = client_id or unique("t")
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
            protocol=mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311,
            clean_session=None if protocol == 5 else clean_start)
        cert, key = cert_files(who)
        self.client.tls_set(ca_certs=os.path.join(ARGS.pki, "ca.pem"), certfile=cert, keyfile=key)
        self.client.on_message = lambda c, u, message: self.messages.put(message)
        self.client.on_connect = lambda c, u, flags, rc, p: self.connacks.put((rc, flags.session_present, p))
        self.client.on_disconnect = lambda c, u, flags, rc, p: self.disconnects.put((rc, p))
        self.client.on_publish = self._acknowledged
        extra = {"clean_start": clean_start, "properties": props} if protocol == 5 else {}
        self.client.connect("127.0.0.1", ARGS.port, keepalive=keepalive, **extra)
        self.client.loop_start()
        try:
            rc, self.session_present, self.connack_properties = self.connacks.get(timeout=TIMEOUT)
        except queue.Empty:
            self.client.loop_stop()
            fail("%s: no CONNACK" % who)
        if rc.is_failure:
            self.client.loop_stop()
            # paho reads the 3.1.1-format CONNACK 0x01 of a server without MQTT 5.0 as 0x84.
            refusal = " (the server refused protocol level 5)" if protocol == 5 and rc.value == 0x84 else ""
            version = "5.0" if protocol == 5 else "3.1.1"
            fail("%s (MQTT %s): CONNACK %s (0x%02x)%s" % (who, version, rc, rc.value, refusal))

    def _acknowledged(self, client, userdata, mid, reason_code, props):
        with self.acked:
            self.acks[mid] = (getattr(reason_code, "value", 0), props)
            self.acked.notify_all()

    def publish(self, topic, payload, qos=1, retain=False, props=None):
        """Publishes and waits for the end of the flow (QoS 1: PUBACK, QoS 2: PUBCOMP); returns its reason code and
        properties."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        check(info.rc == 0, "%s: publish on %s failed locally: %s" % (self.who, topic, info.rc))
        with self.acked:
            check(self.acked.wait_for(lambda: info.mid in self.acks, TIMEOUT),
                  "%s: publish on %s not acknowledged" % (self.who, topic))
            return self.acks.pop(info.mid)

    def subscribe(self, topic, qos=1, no_local=False, retain_as_published=False, retain_handling=0,
                  subscription_id=None):
        """Subscribes; returns the SUBACK reason codes."""
        done = threading.Event()
        codes = []
        self.client.on_subscribe = lambda c, u, mid, reason_codes, p: (codes.extend(r.value for r in reason_codes),
                                                                       done.set())
        if self.protocol == 5:
            props = None
            if subscription_id:
                props = Properties(PacketTypes.SUBSCRIBE)
                props.SubscriptionIdentifier = subscription_id
            self.client.subscribe(topic, options=SubscribeOptions(qos, no_local, retain_as_published, retain_handling),
                                  properties=props)
        else:
            self.client.subscribe(topic, qos)
        check(done.wait(TIMEOUT), "%s: no SUBACK for %s" % (self.who, topic))
        return codes

    def received(self, count, seconds=TIMEOUT):
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
            fail("%s: unexpected message on %s: %r" % (self.who, message.topic, message.payload))
        except queue.Empty:
            pass

    def stop(self, reason=0):
        """DISCONNECT with `reason`: 0x00 discards the will [MQTT-3.14.4-3], 0x04 keeps it."""
        code = ReasonCode(PacketTypes.DISCONNECT, identifier=reason) if reason else None
        self.client.disconnect(reasoncode=code)
        try:
            self.disconnects.get(timeout=TIMEOUT)
        except queue.Empty:
            pass
        self.client.loop_stop()


def paho_properties(packet_type, values):
    props = Properties(packet_type)
    for name, value in values.items():
        setattr(props, name, value)
    return props


def connect_properties(**values):
    return paho_properties(PacketTypes.CONNECT, values)


def publish_properties(**values):
    return paho_properties(PacketTypes.PUBLISH, values)


def message_property(message, name, default=None):
    return getattr(message.properties, name, default) if message.properties else default


def payloads(messages):
    return [m.payload.decode(errors="replace") for m in messages]


def is_marker(message):
    return message.payload.startswith(b"marker-")


def settled(client, publisher, topic):
    """What `client` (subscribed to `topic`) received before a marker that `publisher` now sends on `topic`, and in
    a short grace after it, markers left out. A server forwards a session's messages in the order it accepted them,
    so whatever was due to `client` before the marker has arrived by then: this replaces a blind wait for nothing."""
    marker = unique("marker")
    publisher.publish(topic, marker, qos=1)
    got = []
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        try:
            message = client.messages.get(timeout=max(deadline - time.time(), 0.01))
        except queue.Empty:
            break
        if message.payload == marker.encode():
            return [m for m in got + client.received(100, seconds=0.3) if not is_marker(m)]
        got.append(message)
    fail("%s: the marker on %s did not arrive (before it: %r)" % (client.who, topic, payloads(got)))


def envelope(precedence, body):
    return json.dumps({"precedence": precedence, "securityLabel": "UN RESTRICTED", "body": body})


def uxo_report():
    return {"location": {"lat": 33.2, "lon": 35.4}, "occurredAt": "2026-11-20T08:00:00Z",
            "narrative": "cluster munition found", "uxoType": "CLUSTER_MUNITION", "marked": True, "eodTasked": False}


# Scenarios


def connack_properties():
    raw = RawClient("KAZ")
    connack = raw.connected(client_id="")
    say("CONNACK %r" % connack)
    check(connack.ack_flags & 0xFE == 0, "reserved CONNACK flags set")  # [MQTT-3.2.2-1]
    check(not connack.session_present, "session present 1 after Clean Start 1")  # [MQTT-3.2.2-2]
    for identifier, name in [(RECEIVE_MAXIMUM, "Receive Maximum"), (MAXIMUM_PACKET_SIZE, "Maximum Packet Size"),
                             (TOPIC_ALIAS_MAXIMUM, "Topic Alias Maximum")]:
        check(len(connack.all(identifier)) == 1, "CONNACK carries %s %d times" % (name, len(connack.all(identifier))))
    check(connack.property(RECEIVE_MAXIMUM) > 0, "Receive Maximum 0")  # 3.2.2.3.3: 0 is a Protocol Error
    check(connack.property(MAXIMUM_PACKET_SIZE) > 0, "Maximum Packet Size 0")  # 3.2.2.3.6
    check(connack.property(TOPIC_ALIAS_MAXIMUM) > 0, "Topic Alias Maximum 0: the server takes no aliases")
    # An empty client id gets a new one, not used by any other session [MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16].
    assigned = connack.property(ASSIGNED_CLIENT_IDENTIFIER)
    check(assigned, "no Assigned Client Identifier for an empty client id")
    other = RawClient("KAZ")
    second = other.connected(client_id="").property(ASSIGNED_CLIENT_IDENTIFIER)
    check(second and second != assigned, "two sessions got the client id %r" % assigned)
    named = RawClient("KAZ")
    check(named.connected(client_id=unique("named")).property(ASSIGNED_CLIENT_IDENTIFIER) is None,
          "an Assigned Client Identifier for a client that named itself")
    # HUB: Maximum QoS, Retain Available and the *Available properties are omitted (all supported).
    for identifier in (MAXIMUM_QOS, RETAIN_AVAILABLE, WILDCARD_SUBSCRIPTION_AVAILABLE,
                       SUBSCRIPTION_IDENTIFIER_AVAILABLE, SHARED_SUBSCRIPTION_AVAILABLE):
        check(connack.property(identifier) is None, "CONNACK carries %s" % PROPERTIES[identifier][0])
    # HUB: an empty client id is accepted with Clean Start 0 too.
    persistent = RawClient("KAZ")
    connack = persistent.connected(client_id="", clean_start=False)
    check(connack.property(ASSIGNED_CLIENT_IDENTIFIER), "no Assigned Client Identifier with Clean Start 0")
    check(not connack.session_present, "session present 1 for a new client id")
    persistent.close()
    for client in (raw, other, named):
        client.close()


def reason_not_authorized():
    if not on_hub("the hub's authorization (the reference broker has no ACL)"):
        return
    # 5.0 senders get the hub's notice too (HUB), beside the reason code.
    notices = Client("KAZ")
    check(notices.subscribe("contingents/KAZ/notices") == [1], "KAZ may read its notices")
    kaz = RawClient("KAZ")
    kaz.connected()
    # PUBACK / PUBREC carry 0x87 Not authorized and a Reason String (sections 3.4.2.1, 3.5.2.1).
    packet_id = kaz.publish("contingents/IND/notices", "not mine", qos=1)
    puback = kaz.expect(PUBACK)
    check(puback.packet_id == packet_id and puback.reason == 0x87, "QoS 1 on IND's notices: %r" % puback)
    check(puback.property(REASON_STRING), "PUBACK 0x87 without a Reason String")
    packet_id = kaz.publish("hub/broadcast/x", "operators only", qos=2)
    pubrec = kaz.expect(PUBREC)
    check(pubrec.packet_id == packet_id and pubrec.reason == 0x87, "QoS 2 on hub/broadcast: %r" % pubrec)
    check(pubrec.property(REASON_STRING), "PUBREC 0x87 without a Reason String")
    say("refused: %r, %r" % (puback, pubrec))
    # After PUBREC >= 0x80 the flow is over: no PUBREL [MQTT-4.3.3-4], and the packet id is free again
    # [MQTT-4.3.3-9]; the next QoS 2 PUBLISH with it is a new message.
    topic = chat("authorized")
    kaz.send(publish_packet(topic, "allowed", qos=2, packet_id=packet_id))
    pubrec = kaz.expect(PUBREC)
    check(pubrec.packet_id == packet_id and pubrec.reason in (0x00, 0x10), "reused packet id: %r" % pubrec)
    kaz.send(ack_packet(PUBREL, packet_id))
    pubcomp = kaz.expect(PUBCOMP)
    check(pubcomp.packet_id == packet_id and pubcomp.reason == 0, "PUBCOMP %r" % pubcomp)
    # One SUBSCRIBE, one reason code per filter, in order [MQTT-3.8.4-6] [MQTT-3.9.3-1].
    filters = ["contingents/IND/inbox", "missions/UNIFIL/chat/#", "missions/UNIFIL/chat/#/x",
               "$share//missions/UNIFIL/chat/#"]
    suback = kaz.subscribe([(topic_filter, options(1)) for topic_filter in filters])
    check(suback.reasons == [0x87, 0x01, 0x8F, 0x8F], "SUBACK %r: expected 0x87, 0x01, 0x8F, 0x8F" % suback)
    kaz.ping()
    kaz.close()
    got = [json.loads(m.payload) for m in notices.received(2)]
    check([n.get("event") for n in got] == ["publish-refused"] * 2, "notices: %r" % got)
    notices.stop()


def module_rejection():
    if not on_hub("the hub's mission modules"):
        return
    ind = Client("IND")
    check(ind.subscribe("missions/UNIFIL/reports/+") == [1], "IND may read UNIFIL's reports")
    kaz = Client("KAZ")
    report = uxo_report()
    missing = dict(report)
    del missing["location"]
    # 0x99 Payload format invalid, the module's verdict as "<CODE>: <reason>" in the Reason String (HUB).
    code, props = kaz.publish("missions/UNIFIL/reports/UXO", envelope("IMMEDIATE", missing), qos=1)
    reason = getattr(props, "ReasonString", None)
    say("rejected: PUBACK 0x%02x %r" % (code, reason))
    check(code == 0x99, "a report missing 'location': PUBACK 0x%02x, expected 0x99" % code)
    check(reason == "MISSING_FIELD: field 'location' is required", "Reason String %r" % reason)
    # Accepted: success, and delivered annotated.
    code, _ = kaz.publish("missions/UNIFIL/reports/UXO", envelope("IMMEDIATE", report), qos=1)
    check(code == 0x00, "a valid report: PUBACK 0x%02x" % code)
    got = ind.received(1)
    check(len(got) == 1, "the valid report was not delivered")
    delivered = json.loads(got[0].payload)
    check(delivered.get("body") == report and delivered.get("precedence") == "IMMEDIATE"
          and delivered.get("securityLabel") == "UN RESTRICTED", "delivered %r" % delivered)
    check(delivered.get("annotations", {}).get("insideArea") is True, "annotations: %r" % delivered)
    # The bare body with the user properties precedence and security-label (HUB) is a report too; subscribers get
    # the annotated envelope and, in 5.0, the user properties as sent.
    labels = [("precedence", "FLASH"), ("security-label", "UN RESTRICTED")]
    code, _ = kaz.publish("missions/UNIFIL/reports/UXO", json.dumps(report), qos=1,
                          props=publish_properties(UserProperty=labels))
    check(code == 0x00, "a bare v5 report: PUBACK 0x%02x" % code)
    got = ind.received(1)
    check(len(got) == 1, "the bare v5 report was not delivered")
    delivered = json.loads(got[0].payload)
    check(delivered.get("body") == report and delivered.get("precedence") == "FLASH"
          and delivered.get("securityLabel") == "UN RESTRICTED" and "annotations" in delivered,
          "delivered %r" % delivered)
    sent_along = message_property(got[0], "UserProperty")
    check(sent_along == labels, "user properties %r" % sent_along)
    # Without a security label the module refuses the bare body.
    code, props = kaz.publish("missions/UNIFIL/reports/UXO", json.dumps(report), qos=1,
                              props=publish_properties(UserProperty=[("precedence", "FLASH")]))
    reason = getattr(props, "ReasonString", None) or ""
    check(code == 0x99 and reason.startswith("MISSING_FIELD: "), "no security label: 0x%02x %r" % (code, reason))
    ind.nothing_within(0.5)
    ind.stop()
    kaz.stop()


def connack_codes():
    if on_hub("HUB: a client id stays bound to the principal that first used it (mosquitto hands it over)"):
        bound = unique("kaz-bound")
        kaz = RawClient("KAZ")
        kaz.connected(client_id=bound, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 60)])
        intruder = RawClient("IND")
        intruder.send(connect_packet(bound))
        intruder.refused(0x87, "IND with KAZ's client id")
        kaz.ping()  # the refusal took nothing over
        kaz.close()
        intruder = RawClient("IND")
        intruder.send(connect_packet(bound, clean_start=True))
        intruder.refused(0x87, "IND with the client id of KAZ's offline session")
        reclaim = RawClient("KAZ")
        reclaim.connected(client_id=bound, clean_start=True)
        reclaim.close()
    # The hub's only authentication is the certificate: an Authentication Method is refused [MQTT-4.12.0-1]
    # (0x8C or 0x87; HUB: 0x8C), and the connection closed.
    auth = RawClient("KAZ")
    auth.send(connect_packet(unique("auth"), props=[(AUTHENTICATION_METHOD, "SCRAM-SHA-256"),
                                                    (AUTHENTICATION_DATA, b"n,,n=kaz,r=abc")]))
    auth.refused(0x8C, "CONNECT with an Authentication Method")
    if not ARGS.limit:
        say("no --limit: the connection limit is not checked")
    elif on_hub("HUB: mqtt.maximumConnectionsPerPrincipal, 0x97 Quota exceeded (mosquitto has no such limit)"):
        live = []
        for n in range(ARGS.limit):
            client = RawClient("KAZ")
            client.connected(client_id="kaz-limit-%d" % n)
            live.append(client)
        extra = RawClient("KAZ")
        extra.send(connect_packet("kaz-limit-extra"))
        extra.refused(0x97, "KAZ connection %d of %d allowed" % (ARGS.limit + 1, ARGS.limit))
        other = RawClient("IND")
        other.connected()  # another principal is not limited by KAZ's connections
        other.close()
        # Taking one's own session over is not one more connection.
        takeover = RawClient("KAZ")
        takeover.connected(client_id="kaz-limit-0")
        live[0].disconnected_by_server(0x8E, "the taken-over connection")
        live[0] = takeover
        live.pop().close()
        again = RawClient("KAZ")
        again.connected(client_id="kaz-limit-again")
        for client in live + [again]:
            client.close()


WILL_AFTER_RESTART_DELAY = 10


def session_expiry_prepare():
    """A persistent session (Session Expiry Interval 300) and a short one (2 s), both offline with three queued
    messages each, and a dropped connection whose will waits 10 s; the state for session_expiry_resume goes to
    --out."""
    check(ARGS.out, "session_expiry_prepare needs --out")
    topic = chat("expiry")
    state = {"topic": topic, "long": unique("ind-long"), "short": unique("kaz-short"),
             "willTopic": chat("will-restart")}
    dropped = RawClient("KAZ")
    dropped.connected(client_id=unique("kaz-will"), clean_start=True, props=[(SESSION_EXPIRY_INTERVAL, 300)],
                      will={"topic": state["willTopic"], "payload": "gone before the restart",
                            "props": [(WILL_DELAY_INTERVAL, WILL_AFTER_RESTART_DELAY)]})
    dropped.drop()
    state["willDroppedAt"] = time.time()
    for who, client_id, interval in [("IND", state["long"], 300), ("KAZ", state["short"], 2)]:
        client = Client(who, client_id=client_id, props=connect_properties(SessionExpiryInterval=interval))
        check(client.subscribe(topic) == [1], "%s may read the chat" % who)
        client.stop()
    state["shortDisconnectedAt"] = time.time()
    publisher = Client("IND")
    for n in range(3):
        publisher.publish(topic, "queued %d" % n, qos=1)
    publisher.stop()
    with open(ARGS.out, "w") as out:
        json.dump(state, out)


def session_expiry_resume():
    check(ARGS.out, "session_expiry_resume needs --out")
    with open(ARGS.out) as state_file:
        state = json.load(state_file)
    # A will waiting out its delay when the server stopped is still sent when the delay has passed [MQTT-3.1.2-8]:
    # it belongs to the session, which outlived the restart.
    watcher = Client("IND")
    check(time.time() < state["willDroppedAt"] + WILL_AFTER_RESTART_DELAY - 1,
          "the restart took too long to watch for the will before its delay passed")
    check(watcher.subscribe(state["willTopic"]) == [1], "IND may read the chat")
    wills = watcher.received(1, seconds=WILL_AFTER_RESTART_DELAY + TIMEOUT)
    check(payloads(wills) == ["gone before the restart"], "the delayed will after the restart: %r" % payloads(wills))
    waited = time.time() - state["willDroppedAt"]
    check(waited >= WILL_AFTER_RESTART_DELAY - 0.5, "the will came %.2f s after its connection dropped" % waited)
    watcher.stop()
    # The session outlived the disconnection (and a server restart): Session Present 1 [MQTT-3.1.2-23]
    # [MQTT-3.2.2-3], and what was published meanwhile arrives, in order [MQTT-4.6.0-6].
    back = Client("IND", client_id=state["long"], clean_start=False,
                  props=connect_properties(SessionExpiryInterval=300))
    check(back.session_present, "session present 0 for a session with Session Expiry Interval 300")
    got = payloads(back.received(3))
    check(got == ["queued 0", "queued 1", "queued 2"], "queued: %r" % got)
    back.stop()
    Client("IND", client_id=state["long"], clean_start=True).stop()
    # The short session expired 2 s after its disconnection: discarded [MQTT-4.1.0-2], nothing queued survives.
    # Time has to pass here; whatever of the 3 s the restart took already counts.
    time.sleep(max(0.0, state["shortDisconnectedAt"] + 3.0 - time.time()))
    short = Client("KAZ", client_id=state["short"], clean_start=False)
    check(not short.session_present, "session present 1 after the Session Expiry Interval (2 s) passed")
    check(short.subscribe("contingents/KAZ/inbox") == [1], "KAZ may read its inbox")
    marker = Client("IND")
    got = settled(short, marker, "contingents/KAZ/inbox")
    check(not got, "an expired session still delivered %r" % payloads(got))
    short.stop()
    marker.stop()


def message_expiry():
    topic = chat("message-expiry")
    client_id = unique("ind-expiry")
    subscriber = Client("IND", client_id=client_id, props=connect_properties(SessionExpiryInterval=300))
    check(subscriber.subscribe(topic) == [1], "IND may read the chat")
    subscriber.stop()
    publisher = Client("KAZ")
    publisher.publish(topic, "short-lived", props=publish_properties(MessageExpiryInterval=2))
    publisher.publish(topic, "long-lived", props=publish_properties(MessageExpiryInterval=60))
    retained_topic = topic + "/retained"
    publisher.publish(retained_topic, "short-lived retained", retain=True,
                      props=publish_properties(MessageExpiryInterval=2))
    # Time has to pass for a message to expire: 3 s for the 2 s ones.
    time.sleep(3.0)
    back = Client("IND", client_id=client_id, clean_start=False, props=connect_properties(SessionExpiryInterval=300))
    check(back.session_present, "the persistent session is gone")
    # Expired before delivery started: deleted for that subscriber [MQTT-3.3.2-5].
    got = back.received(1)
    check(payloads(got) == ["long-lived"], "after 3 s the queue held %r" % payloads(got))
    # Delivered with what is left of its interval [MQTT-3.3.2-6]: it waited at least 3 s of its 60.
    remaining = message_property(got[0], "MessageExpiryInterval")
    say("long-lived delivered with Message Expiry Interval %r" % remaining)
    check(remaining is not None and 0 < remaining <= 58, "remaining Message Expiry Interval %r" % remaining)
    check(not settled(back, publisher, topic), "more than the long-lived message was queued")
    # An expired retained message is discarded too (section 3.3.1.3).
    back.subscribe(retained_topic)
    got = settled(back, publisher, retained_topic)
    check(not got, "an expired retained message was sent: %r" % payloads(got))
    # A live message carries its interval, less at most the time in flight.
    publisher.publish(topic, "live", props=publish_properties(MessageExpiryInterval=60))
    got = back.received(1)
    remaining = message_property(got[0], "MessageExpiryInterval") if got else None
    check(remaining is not None and 55 <= remaining <= 60, "live message: Message Expiry Interval %r" % remaining)
    back.stop()
    publisher.stop()
    Client("IND", client_id=client_id, clean_start=True).stop()


def topic_alias_inbound():
    topic = chat("alias")
    other = topic + "/other"
    subscriber = Client("IND")
    check(subscriber.subscribe(topic + "/#") == [1], "IND may read the chat")  # "#" also matches the parent level
    raw = RawClient("KAZ")
    connack = raw.connected()
    maximum = connack.property(TOPIC_ALIAS_MAXIMUM, 0)
    # Absent or 0: the client must not send aliases at all [MQTT-3.2.2-18].
    check(maximum >= 1, "Topic Alias Maximum %d" % maximum)
    sent = [(topic, "one", 1), ("", "two", 1), (other, "three", 1), ("", "four", 1)]  # remapping alias 1 (3.3.2.3.4)
    if maximum > 1:
        sent += [(topic, "five", maximum), ("", "six", maximum)]  # every alias up to the maximum [MQTT-3.3.2-12]
    for name, payload, alias in sent:
        packet_id = raw.publish(name, payload, qos=1, props=[(TOPIC_ALIAS, alias)])
        puback = raw.expect(PUBACK)
        check(puback.packet_id == packet_id and puback.reason in (0x00, 0x10), "PUBACK %r for %r" % (puback, payload))
    expected = [(topic, "one"), (topic, "two"), (other, "three"), (other, "four")]
    if maximum > 1:
        expected += [(topic, "five"), (topic, "six")]
    got = [(m.topic, m.payload.decode()) for m in subscriber.received(len(expected))]
    check(got == expected, "delivered %r, expected %r" % (got, expected))
    # Above the maximum, or 0: Topic Alias invalid (section 3.3.4, [MQTT-3.3.2-8] [MQTT-3.2.2-17]).
    raw.publish(topic, "too high", qos=1, props=[(TOPIC_ALIAS, maximum + 1)])
    raw.disconnected_by_server(0x94, "Topic Alias %d above the maximum %d" % (maximum + 1, maximum))
    zero = RawClient("KAZ")
    zero.connected()
    zero.publish(topic, "zero", qos=1, props=[(TOPIC_ALIAS, 0)])
    if on_hub("mosquitto 2.0.11 answers Topic Alias 0 with DISCONNECT 0x81"):
        zero.disconnected_by_server(0x94, "Topic Alias 0")
    else:
        zero.drop()
    # An alias this connection never set: mappings do not carry over from another connection [MQTT-3.3.2-7];
    # an empty topic with an unmapped alias is a Protocol Error (section 3.3.4).
    fresh = RawClient("KAZ")
    fresh.connected()
    fresh.publish("", "unmapped", qos=1, props=[(TOPIC_ALIAS, 1)])
    fresh.disconnected_by_server(0x82, "an empty topic with an alias never set on this connection")
    subscriber.nothing_within(0.3)
    subscriber.stop()


def topic_alias_outbound():
    base = chat("outbound-alias")
    first, second = base + "/a", base + "/b"
    raw = RawClient("IND")
    raw.connected(props=[(TOPIC_ALIAS_MAXIMUM, 5)])
    check(raw.subscribe([(base + "/#", options(1))]).reasons == [1], "IND may read the chat")
    plain = RawClient("IND")  # no Topic Alias Maximum: the server must send no alias [MQTT-3.1.2-27]
    plain.connected()
    check(plain.subscribe([(base + "/#", options(1))]).reasons == [1], "IND may read the chat")
    publisher = Client("KAZ")
    sequence = [first, first, first, second, second, first]
    for n, topic in enumerate(sequence):
        publisher.publish(topic, "m%d" % n)
    aliases = {}
    packets = []
    for n, topic in enumerate(sequence):
        packet = raw.expect(PUBLISH)
        packets.append(packet)
        raw.send(ack_packet(PUBACK, packet.packet_id))
        alias = packet.property(TOPIC_ALIAS)
        check(alias is None or 1 <= alias <= 5, "alias %r outside 1..5 [MQTT-3.1.2-26] [MQTT-3.3.2-11]" % alias)
        # Resolve as a receiver does (section 3.3.2.3.4): a topic with an alias sets the mapping, an empty one uses it.
        if packet.topic:
            if alias:
                aliases[alias] = packet.topic
            resolved = packet.topic
        else:
            check(alias in aliases, "empty topic with unmapped alias %r: %r" % (alias, packet))
            resolved = aliases[alias]
        check(resolved == topic and packet.payload == ("m%d" % n).encode(),
              "packet %d %r resolves to %r" % (n, packet, resolved))
    say("with Topic Alias Maximum 5: %r" % packets)
    if on_hub("HUB: the first PUBLISH on a topic carries topic + alias, later ones only the alias (mosquitto "
              "2.0.11 sends no aliases)"):
        check(all(p.property(TOPIC_ALIAS) for p in packets), "PUBLISH without an alias: %r" % packets)
        topics = [p.topic for p in packets]
        check(topics == [first, "", "", second, "", ""], "topics sent: %r" % topics)
    for n in range(len(sequence)):
        packet = plain.expect(PUBLISH)
        plain.send(ack_packet(PUBACK, packet.packet_id))
        check(packet.property(TOPIC_ALIAS) is None and packet.topic == sequence[n], "without a maximum: %r" % packet)
    raw.close()
    plain.close()
    publisher.stop()


def receive_maximum():
    # Outbound: never more than the client's Receive Maximum unacknowledged QoS 1/2 PUBLISHes [MQTT-3.3.4-9].
    topic = chat("receive-maximum")
    raw = RawClient("IND")
    raw.connected(props=[(RECEIVE_MAXIMUM, 2)])
    check(raw.subscribe([(topic, options(1))]).reasons == [1], "IND may read the chat")
    publisher = Client("KAZ")
    for n in range(6):
        publisher.publish(topic, "m%d" % n)
    window = [raw.expect(PUBLISH), raw.expect(PUBLISH)]
    extra = raw.read(1.5)
    check(extra is None, "a third PUBLISH with two unacknowledged and Receive Maximum 2: %r" % extra)
    received = list(window)
    while window:
        raw.send(ack_packet(PUBACK, window.pop(0).packet_id))
        if len(received) < 6:
            packet = raw.expect(PUBLISH)  # an acknowledgement frees one place, and one more comes
            window.append(packet)
            received.append(packet)
            check(len(window) <= 2, "outstanding %r" % window)
    check(raw.read(0.5) is None, "a PUBLISH beyond the six")
    check([p.payload for p in received] == [b"m%d" % n for n in range(6)], "received %r" % received)
    raw.close()
    publisher.stop()
    # Inbound: a client must not exceed the server's Receive Maximum [MQTT-3.3.4-7]; a server that receives more
    # QoS 1/2 PUBLISHes than that without having sent their PUBACK or PUBCOMP disconnects with 0x93 (section 3.3.4,
    # section 4.9). QoS 2 PUBLISHes never released stay unanswered by PUBCOMP, so the count is exact.
    sender = RawClient("KAZ")
    maximum = sender.connected().property(RECEIVE_MAXIMUM, 65535)  # absent: 65535 (3.2.2.3.3)
    if maximum > 1000:
        fail("Receive Maximum %d: too many PUBLISHes to hold open in a test" % maximum)
    target = chat("flood")
    for n in range(maximum):
        sender.publish(target, "held %d" % n, qos=2)
    for n in range(maximum):
        pubrec = sender.expect(PUBREC)
        check(pubrec.reason < 0x80, "PUBREC %r" % pubrec)
    sender.ping()  # at the limit, not over it: still served [MQTT-4.9.0-3]
    sender.publish(target, "one too many", qos=2)
    if on_hub("mosquitto 2.0.11 answers PUBLISH %d with PUBREC 0x97 Quota exceeded and stays connected, where "
              "section 3.3.4 says DISCONNECT 0x93" % (maximum + 1)):
        sender.disconnected_by_server(0x93, "QoS 2 PUBLISH %d with Receive Maximum %d" % (maximum + 1, maximum))
    else:
        sender.drop()
    # A burst of QoS 1 PUBLISHes sent without waiting: the server either keeps up (every PUBACK sent before the
    # next PUBLISH was taken in, so it never held more than its maximum) or disconnects with 0x93.
    burst = RawClient("KAZ")
    burst.connected()
    count = 3 * maximum
    burst.send(b"".join(publish_packet(target, "burst %d" % n, 1, n + 1) for n in range(count)))
    packets = []
    try:
        while len(packets) < count:
            packet = burst.read()
            check(packet is not None, "the burst got %d answers, then silence" % len(packets))
            packets.append(packet)
            if packet.kind == DISCONNECT:
                break
    except Closed:
        fail("closed without DISCONNECT after %d answers to the burst" % len(packets))
    pubacks = [p for p in packets if p.kind == PUBACK]
    check(all(p.reason in (0x00, 0x10) for p in pubacks), "PUBACKs %r" % pubacks)
    check([p.packet_id for p in pubacks] == list(range(1, len(pubacks) + 1)), "PUBACKs out of order")  # [MQTT-4.6.0-2]
    if packets[-1].kind == DISCONNECT:
        check(packets[-1].reason == 0x93, "the burst ended with %r" % packets[-1])
        check(not burst.ending(), "packets after DISCONNECT")
        say("QoS 1 burst of %d: DISCONNECT 0x93 after %d PUBACKs" % (count, len(pubacks)))
    else:
        say("QoS 1 burst of %d: all acknowledged, the server kept up" % count)
        burst.close()


def shared_subscriptions():
    base = chat("ops")
    group_filter = "$share/ops/%s/#" % base
    members = [Client("KAZ"), Client("KAZ"), Client("KAZ"), Client("IND")]
    retained_topic = base + "/status"
    publisher = Client("KAZ")
    publisher.publish(retained_topic, "retained before the subscriptions", retain=True)
    for member in members:
        check(member.subscribe(group_filter) == [1], "%s: shared subscription refused" % member.who)
    plain = Client("IND")
    check(plain.subscribe(base + "/#") == [1], "IND may read the chat")
    check(payloads(plain.received(1)) == ["retained before the subscriptions"], "a plain subscription gets it")
    publisher.publish(retained_topic, b"", retain=True)
    check(payloads(plain.received(1)) == [""], "the clearing message reaches the plain subscriber")
    for n in range(30):
        publisher.publish(base + "/m%d" % (n % 3), "%d" % n)
    # A non-shared subscriber gets every message.
    got = plain.received(30)
    check(sorted(int(p) for p in payloads(got)) == list(range(30)), "the plain subscriber got %r" % payloads(got))
    # The group: each message to exactly one member (section 4.8.2). The clearing message goes to one member too;
    # retained messages are not sent for a new shared subscription (section 4.8.2).
    seen = collections.Counter()
    per_member = [0] * len(members)
    deadline = time.time() + TIMEOUT
    grace = None
    while time.time() < (grace or deadline):
        for index, member in enumerate(members):
            for message in member.received(100, seconds=0.05):
                if message.payload:
                    per_member[index] += 1
                    seen[message.payload.decode()] += 1
        if grace is None and sum(1 for p in seen if p.isdigit()) == 30:
            grace = time.time() + 0.3
    if on_hub("mosquitto 2.0.11 sends retained messages to a new shared subscription (section 4.8.2: it must not)"):
        check("retained before the subscriptions" not in seen, "a retained message was sent to a shared subscriber")
    seen.pop("retained before the subscriptions", None)
    numbers = [p for p in seen if p.isdigit()]
    check(sorted(int(p) for p in numbers) == list(range(30)), "the group got %r" % sorted(seen.items()))
    twice = [p for p, count in seen.items() if count > 1]
    check(not twice, "delivered more than once: %r" % twice)
    say("shared deliveries per member (KAZ, KAZ, KAZ, IND): %r" % per_member)
    check(sum(1 for count in per_member if count) > 1, "one member got everything: %r" % per_member)
    check(all(per_member), "a member got nothing: %r" % per_member)  # HUB: round robin among connected members
    for client in members + [plain, publisher]:
        client.stop()


def no_local():
    topic = chat("no-local")
    kaz = Client("KAZ")
    check(kaz.subscribe(topic, no_local=True) == [1], "KAZ may read the chat")
    ind = Client("IND")
    check(ind.subscribe(topic) == [1], "IND may read the chat")
    kaz.publish(topic, "own")
    ind.publish(topic, "from IND")
    other_connection = Client("KAZ")  # same contingent, another client id: not "local" [MQTT-3.8.3-3]
    other_connection.publish(topic, "from KAZ's other connection")
    got = sorted(payloads(settled(kaz, ind, topic)))
    check(got == ["from IND", "from KAZ's other connection"], "with No Local KAZ got %r" % got)
    got = sorted(payloads(m for m in ind.received(4) if not is_marker(m)))
    check(got == ["from IND", "from KAZ's other connection", "own"], "IND got %r" % got)
    for client in (kaz, ind, other_connection):
        client.stop()


def retain_handling():
    # Operators publish on hub/broadcast/#, everyone reads it.
    topic = "hub/broadcast/" + unique("retain-handling")
    operator = Client("operator:duty")
    operator.publish(topic, "retained", retain=True)
    # 0: retained messages at every subscribe, the repeated one included [MQTT-3.3.1-9] [MQTT-3.8.4-4].
    always = Client("KAZ")
    for attempt in ("first", "repeated"):
        always.subscribe(topic, retain_handling=0)
        got = always.received(1)
        check([(m.payload, m.retain) for m in got] == [(b"retained", True)], "handling 0, %s: %r" % (attempt, got))
    # 1: only when the subscription is new [MQTT-3.3.1-10].
    if_new = Client("IND")
    if_new.subscribe(topic, retain_handling=1)
    got = if_new.received(1)
    check([(m.payload, m.retain) for m in got] == [(b"retained", True)], "handling 1, new: %r" % got)
    if_new.subscribe(topic, retain_handling=1)
    got = settled(if_new, operator, topic)
    check(not got, "handling 1, existing subscription: %r" % payloads(got))
    # 2: never [MQTT-3.3.1-11].
    never = Client("KGZ")
    never.subscribe(topic, retain_handling=2)
    got = settled(never, operator, topic)
    check(not got, "handling 2: %r" % payloads(got))
    # Retain As Published: 1 keeps the RETAIN flag of a live message, 0 clears it [MQTT-3.3.1-12] [MQTT-3.3.1-13].
    as_published = Client("KAZ")
    as_published.subscribe(topic, retain_as_published=True, retain_handling=2)
    cleared = Client("IND")
    cleared.subscribe(topic, retain_as_published=False, retain_handling=2)
    operator.publish(topic, "live retained", retain=True)
    operator.publish(topic, "live plain")
    got = [(m.payload, m.retain) for m in as_published.received(2)]
    check(got == [(b"live retained", True), (b"live plain", False)], "Retain As Published 1: %r" % got)
    got = [(m.payload, m.retain) for m in cleared.received(2)]
    check(got == [(b"live retained", False), (b"live plain", False)], "Retain As Published 0: %r" % got)
    operator.publish(topic, b"", retain=True)
    for client in (operator, always, if_new, never, as_published, cleared):
        client.stop()


def request_response():
    requester = Client("KAZ")
    check(requester.subscribe("contingents/KAZ/inbox") == [1], "KAZ may read its inbox")
    responder = Client("IND")
    check(responder.subscribe("contingents/IND/inbox") == [1], "IND may read its inbox")
    correlation = b"\x00\x01req-" + uuid.uuid4().bytes + b"\xff"
    requester.publish("contingents/IND/inbox", "status?", qos=1,
                      props=publish_properties(ResponseTopic="contingents/KAZ/inbox", CorrelationData=correlation))
    got = responder.received(1)
    check(len(got) == 1, "the request did not arrive")
    # Both unaltered [MQTT-3.3.2-15] [MQTT-3.3.2-16].
    response_topic = message_property(got[0], "ResponseTopic")
    check(response_topic == "contingents/KAZ/inbox", "Response Topic %r" % response_topic)
    check(message_property(got[0], "CorrelationData") == correlation, "request Correlation Data %r"
          % message_property(got[0], "CorrelationData"))
    responder.publish(response_topic, "all quiet", qos=1, props=publish_properties(CorrelationData=correlation))
    got = requester.received(1)
    check(payloads(got) == ["all quiet"], "response %r" % payloads(got))
    check(message_property(got[0], "CorrelationData") == correlation, "response Correlation Data %r"
          % message_property(got[0], "CorrelationData"))
    check(message_property(got[0], "ResponseTopic") is None, "the response gained a Response Topic")
    requester.stop()
    responder.stop()


def user_properties():
    base = chat("user-properties")
    subscriber = Client("IND")
    check(subscriber.subscribe(base + "/#", subscription_id=7) == [1], "IND may read the chat")
    check(subscriber.subscribe(base + "/+", subscription_id=9) == [1], "IND may read the chat")
    check(subscriber.subscribe(base + "/x/+") == [1], "IND may read the chat")
    publisher = Client("KAZ")
    pairs = [("origin", "KAZBATT"), ("unit", "1 coy"), ("origin", "relay"), ("ключ", "значение"),
             ("empty", "")]
    publisher.publish(base + "/a", '{"text": "salem"}', qos=1,
                      props=publish_properties(UserProperty=pairs, PayloadFormatIndicator=1,
                                               ContentType="application/json; charset=utf-8"))
    # Overlapping subscriptions: one copy with both identifiers [MQTT-3.3.4-4] or one copy per subscription, each
    # with its own [MQTT-3.3.4-5]; either way every matching subscription's identifier arrives [MQTT-3.3.4-3].
    got = settled(subscriber, publisher, base + "/marker")
    check(got, "nothing delivered")
    identifiers = sorted(i for m in got for i in (message_property(m, "SubscriptionIdentifier") or []))
    check(identifiers == [7, 9], "Subscription Identifiers %r" % identifiers)
    for message in got:
        # Unaltered and in order, duplicates kept [MQTT-3.3.2-17] [MQTT-3.3.2-18]; [MQTT-3.3.2-4]; [MQTT-3.3.2-20].
        sent_along = message_property(message, "UserProperty")
        check(sent_along == pairs, "user properties %r" % sent_along)
        check(message_property(message, "PayloadFormatIndicator") == 1, "Payload Format Indicator lost")
        check(message_property(message, "ContentType") == "application/json; charset=utf-8", "Content Type %r"
              % message_property(message, "ContentType"))
    # Only the subscription without an identifier and "#" (7) match here.
    publisher.publish(base + "/x/y", "deep", qos=1)
    got = settled(subscriber, publisher, base + "/marker")
    identifiers = sorted(i for m in got for i in (message_property(m, "SubscriptionIdentifier") or []))
    check(identifiers == [7], "Subscription Identifiers for a/x/y: %r" % identifiers)
    check(all(message_property(m, "UserProperty") is None for m in got), "user properties appeared")
    # A server MAY check a payload declared UTF-8 (3.3.2.3.2); HUB: it does, and refuses invalid UTF-8 with 0x99.
    if on_hub("HUB: payloads with Payload Format Indicator 1 are checked (mosquitto 2.0.11 does not check)"):
        code, _ = publisher.publish(base + "/a", b"\xc3\x28", qos=1, props=publish_properties(PayloadFormatIndicator=1))
        check(code == 0x99, "invalid UTF-8 with Payload Format Indicator 1: PUBACK 0x%02x" % code)
        check(not settled(subscriber, publisher, base + "/marker"), "invalid UTF-8 was delivered")
    subscriber.stop()
    publisher.stop()


def will_delay():
    """Five wills at once on one topic, each payload naming its case; the subscriber times their arrivals."""
    topic = chat("will")
    subscriber = Client("IND")
    check(subscriber.subscribe(topic) == [1], "IND may read the chat")
    session = [(SESSION_EXPIRY_INTERVAL, 60)]

    def will(case, delay):
        return {"topic": topic, "payload": case, "props": [(WILL_DELAY_INTERVAL, delay)] if delay else []}

    cases = {}
    for case, delay in [("reconnected", 2), ("dropped", 2), ("disconnect 0x04", 0), ("disconnect 0x04 delayed", 2),
                        ("disconnect 0x00", 0)]:
        client = RawClient("KAZ")
        client.connected(client_id=unique("will"), clean_start=True, props=session, will=will(case, delay))
        cases[case] = client
    ended = {}
    for case, client in cases.items():
        ended[case] = time.time()
        if case in ("reconnected", "dropped"):
            client.drop()
        else:
            client.send(disconnect_packet(0x04 if case.startswith("disconnect 0x04") else 0x00))
            client.ending()
    # A new connection for the session within the delay: the will is not sent [MQTT-3.1.3-9].
    back = RawClient("KAZ")
    check(back.connected(client_id=cases["reconnected"].client_id, clean_start=False, props=session).session_present,
          "the reconnected session is gone")
    arrivals = {}
    deadline = time.time() + TIMEOUT
    while len(arrivals) < 3 and time.time() < deadline:
        for message in subscriber.received(1, seconds=max(deadline - time.time(), 0.01)):
            arrivals[message.payload.decode()] = time.time() - ended[message.payload.decode()]
    # Once the delayed wills are in, the ones that must not come would have come (same delay or none).
    for message in subscriber.received(5, seconds=1.0):
        arrivals[message.payload.decode()] = time.time() - ended[message.payload.decode()]
    say("wills arrived after: %s" % ", ".join("%s %.2f s" % item for item in sorted(arrivals.items())))
    # After the Will Delay Interval, not before [MQTT-3.1.2-8]; DISCONNECT 0x04 keeps the will, and its delay.
    check("dropped" in arrivals and arrivals["dropped"] >= 1.5, "dropped connection, delay 2: %r" % arrivals)
    check("disconnect 0x04" in arrivals, "DISCONNECT 0x04 without delay: no will")
    check("disconnect 0x04 delayed" in arrivals and arrivals["disconnect 0x04 delayed"] >= 1.5,
          "DISCONNECT 0x04, delay 2: the will must wait for the delay [MQTT-3.1.2-8]: %r" % arrivals)
    check("reconnected" not in arrivals, "the will was sent though the session was resumed within the delay")
    check("disconnect 0x00" not in arrivals, "DISCONNECT 0x00 did not discard the will [MQTT-3.14.4-3]")
    back.close()
    subscriber.stop()


def server_disconnects():
    # Takeover: DISCONNECT 0x8E to the existing connection, which is then closed [MQTT-3.1.4-3].
    client_id = unique("kaz-console")
    first = RawClient("KAZ")
    first.connected(client_id=client_id)
    second = RawClient("KAZ")
    second.connected(client_id=client_id)
    if on_hub("mosquitto 2.0.11 closes a taken-over connection without DISCONNECT 0x8E"):
        first.disconnected_by_server(0x8E, "the taken-over connection")
    else:
        first.ending()
    second.ping()
    second.close()
    # Keep Alive 1 s and silence: closed after 1.5 x the Keep Alive [MQTT-3.1.2-22], with DISCONNECT 0x8D.
    sleepy = RawClient("KAZ")
    connack = sleepy.connected(keepalive=1)
    check(connack.property(SERVER_KEEP_ALIVE, 1) == 1, "Server Keep Alive %r" % connack.property(SERVER_KEEP_ALIVE))
    started = time.time()
    if on_hub("mosquitto 2.0.11 closes an idle connection without DISCONNECT 0x8D (a SHOULD of section 4.13.1)"):
        sleepy.disconnected_by_server(0x8D, "Keep Alive 1 s, no traffic")
    else:
        sleepy.ending()
    waited = time.time() - started
    say("closed after %.2f s of silence" % waited)
    check(waited >= 1.4, "closed after %.2f s, before 1.5 x the Keep Alive" % waited)
    if on_hub("mosquitto 2.0.11 can take several seconds more than 1.5 x the Keep Alive to close"):
        check(waited <= 6.0, "closed after %.2f s; Keep Alive 1 s allows 1.5 s" % waited)
    if not ARGS.max_packet:
        say("no --max-packet: the Maximum Packet Size checks are skipped")
        return
    size = ARGS.max_packet
    big = RawClient("KAZ")
    connack = big.connected()
    check(connack.property(MAXIMUM_PACKET_SIZE) == size, "CONNACK Maximum Packet Size %r, configured %d"
          % (connack.property(MAXIMUM_PACKET_SIZE), size))
    topic = chat("size")

    def publish_of_size(total, packet_id):
        # Fixed header (1 + remaining length bytes), topic, packet id, property length 0, payload.
        overhead = len(string(topic)) + 2 + 1
        remaining = total - 1 - len(varint(total))
        payload = b"x" * (remaining - overhead)
        packet = publish_packet(topic, payload, 1, packet_id)
        check(len(packet) == total, "built a packet of %d bytes, not %d" % (len(packet), total))
        return packet

    big.send(publish_of_size(size, 1))
    puback = big.expect(PUBACK)
    check(puback.reason in (0x00, 0x10), "a packet of exactly the maximum: %r" % puback)
    # The size counts every byte of the packet, fixed header included (3.1.2.11.4).
    if on_hub("mosquitto 2.0.11 leaves the Remaining Length bytes out of the size (it takes %d bytes), and may "
              "close without DISCONNECT 0x95" % (size + 2)):
        big.send(publish_of_size(size + 1, 2))
        big.disconnected_by_server(0x95, "a packet of %d bytes with Maximum Packet Size %d" % (size + 1, size))
    else:
        big.send(publish_of_size(size + 16, 2))
        answered = big.ending()
        check(all(p.kind == DISCONNECT and p.reason == 0x95 for p in answered), "a packet of %d bytes: %r"
              % (size + 16, answered))
    # The other way: the server never sends a packet above the client's Maximum Packet Size; it drops it for that
    # client as if delivered [MQTT-3.1.2-24] [MQTT-3.1.2-25].
    small = RawClient("IND")
    small.connected(props=[(MAXIMUM_PACKET_SIZE, 128)])
    check(small.subscribe([(topic, options(1))]).reasons == [1], "IND may read the chat")
    publisher = Client("KAZ")
    publisher.publish(topic, "y" * 200)
    publisher.publish(topic, "fits")
    packet = small.expect(PUBLISH)
    check(packet.payload == b"fits", "with Maximum Packet Size 128 the client got %r" % packet)
    small.send(ack_packet(PUBACK, packet.packet_id))
    small.close()
    publisher.stop()


def interop_v311_v5():
    topic = chat("interop")
    old = Client("KAZ", protocol=4)
    new = Client("IND")
    check(old.subscribe(topic, qos=2) == [2], "3.1.1 subscription")
    check(new.subscribe(topic, qos=2) == [2], "5.0 subscription")
    for qos in (0, 1, 2):
        old.publish(topic, "from 3.1.1 q%d" % qos, qos=qos)
    for qos in (0, 1, 2):
        new.publish(topic, "from 5.0 q%d" % qos, qos=qos, props=publish_properties(UserProperty=[("k", "v")]))
    for client, name in ((old, "the 3.1.1 client"), (new, "the 5.0 client")):
        got = client.received(6)
        seen = sorted((m.payload.decode(), m.qos) for m in got)
        expected = sorted([("from 3.1.1 q%d" % q, q) for q in (0, 1, 2)] + [("from 5.0 q%d" % q, q) for q in (0, 1, 2)])
        check(seen == expected, "%s got %r" % (name, seen))
    old.stop()
    new.stop()


def malformed_v5():
    def publish_with(raw_properties, payload=b"x"):
        return frame(PUBLISH, 0, string("missions/UNIFIL/chat/malformed") + raw_properties + payload)

    dup_expiry = properties([(MESSAGE_EXPIRY_INTERVAL, 10), (MESSAGE_EXPIRY_INTERVAL, 20)])
    closes = "mosquitto 2.0.11 closes without DISCONNECT"
    # (what, packet, reason code, what the reference broker does instead when it deviates)
    cases = [
        # An identifier not valid for the packet type is a Malformed Packet (section 2.2.2.2).
        ("unknown property identifier 0x05", publish_with(b"\x02\x05\x00"), 0x81, None),
        ("Session Expiry Interval in PUBLISH", publish_with(properties([(SESSION_EXPIRY_INTERVAL, 10)])), 0x81, None),
        # "It is a Protocol Error to include the Message Expiry Interval more than once" (3.3.2.3.3).
        ("two Message Expiry Intervals", publish_with(dup_expiry), 0x82, closes),
        ("property length beyond the packet", publish_with(b"\x32\x02\x00\x00\x00\x0a", b""), 0x81, None),
        # 0 and 1 are the only values (3.3.2.3.2); the reaction to others is the hub's.
        ("Payload Format Indicator 2", publish_with(properties([(PAYLOAD_FORMAT_INDICATOR, 2)])), 0x82,
         "HUB: 0x82 (mosquitto 2.0.11 accepts the PUBLISH)"),
        # At most four bytes (section 1.5.5).
        ("5-byte property length", publish_with(b"\x80\x80\x80\x80\x00"), 0x81, None),
        ("5-byte remaining length", bytes([0x30, 0x80, 0x80, 0x80, 0x80, 0x00]), 0x81, closes),
        # "It is a Protocol Error if the Topic Name is zero length and there is no Topic Alias" (3.3.2.1 / 3.3.4).
        ("empty topic without a Topic Alias", frame(PUBLISH, 0, string("") + properties() + b"x"), 0x82, None),
        # "It is a Protocol Error if the Subscription Identifier has a value of 0" (3.8.2.1.2).
        ("Subscription Identifier 0", subscribe_packet(1, [("missions/UNIFIL/chat/x", options(1))],
                                                       properties([(SUBSCRIPTION_IDENTIFIER, 0)])), 0x82,
         "mosquitto 2.0.11 sends DISCONNECT 0x81"),
        # Reserved bits set: malformed [MQTT-3.8.3-5].
        ("reserved subscription option bits", subscribe_packet(1, [("missions/UNIFIL/chat/x", 0x41)]), 0x81, None),
        # "It is a Protocol Error to send a Retain Handling value of 3" (3.8.3.1).
        ("Retain Handling 3", subscribe_packet(1, [("missions/UNIFIL/chat/x", options(1, retain_handling=3))]), 0x82,
         "mosquitto 2.0.11 sends DISCONNECT 0x81"),
        # [MQTT-3.8.3-4]
        ("No Local on a shared subscription",
         subscribe_packet(1, [("$share/g/missions/UNIFIL/chat/x", options(1, no_local=True))]), 0x82,
         "mosquitto 2.0.11 grants the subscription"),
        # [MQTT-3.1.0-2]
        ("a second CONNECT", connect_packet(unique("again")), 0x82, closes),
        # AUTH from a client that sent no Authentication Method [MQTT-4.12.0-7].
        ("AUTH without an Authentication Method", frame(AUTH, 0, bytes([0x19]) + properties()), 0x82, closes),
    ]
    for what, packet, reason, deviation in cases:
        raw = RawClient("KAZ")
        raw.connected()
        raw.send(packet)
        if deviation is None or on_hub("%s: %s" % (what, deviation)):
            raw.disconnected_by_server(reason, what)
        else:
            raw.drop()
    # Errors inside CONNECT: the server MUST close and MAY send CONNACK with the reason code first (section 4.13.1,
    # [MQTT-3.2.2-7]); HUB: it does.
    connect_cases = [
        ("Receive Maximum 0", [(RECEIVE_MAXIMUM, 0)], 0x82),  # 3.1.2.11.3
        ("Maximum Packet Size 0", [(MAXIMUM_PACKET_SIZE, 0)], 0x82),  # 3.1.2.11.4
        ("Request Problem Information 2", [(REQUEST_PROBLEM_INFORMATION, 2)], 0x82),  # 3.1.2.11.7
        ("unknown property identifier in CONNECT", b"\x02\x05\x00", 0x81),  # 2.2.2.2
    ]
    for what, props, reason in connect_cases:
        raw = RawClient("KAZ")
        raw.send(connect_packet(unique("bad-connect"), props=props))
        if on_hub("%s: mosquitto 2.0.11 closes without CONNACK (allowed)" % what):
            raw.refused(reason, what)
        else:
            check(not raw.ending(), "%s: packets before the close" % what)
    # A packet that cannot be decoded, sent with the CONNECT before its CONNACK: the CONNECT was valid, so its
    # answer is a success [MQTT-3.2.0-1] and the error's DISCONNECT follows (HUB: a failing CONNACK came, for a
    # session the hub kept and whose will it published).
    topic = chat("connect-then-malformed")
    watcher = Client("IND")
    check(watcher.subscribe(topic) == [1], "IND may read the chat")
    client_id = unique("connect-then-malformed")
    raw = RawClient("KAZ")
    raw.send(connect_packet(client_id, props=[(SESSION_EXPIRY_INTERVAL, 30)],
                            will={"topic": topic, "payload": "will after the error"}) + publish_with(b"\x02\x05\x00"))
    connack = raw.expect(CONNACK)
    check(connack.reason == 0, "CONNECT, then a malformed PUBLISH in the same write: CONNACK %r" % connack)
    if on_hub("CONNECT, then a malformed PUBLISH: mosquitto 2.0.11 closes without DISCONNECT"):
        raw.disconnected_by_server(0x81, "a malformed PUBLISH right behind its CONNECT")
    else:
        raw.ending()
    check(payloads(watcher.received(1)) == ["will after the error"], "the will of a connection ended by an error")
    again = RawClient("KAZ")
    check(again.connected(client_id=client_id, clean_start=False).session_present,
          "the session the CONNACK accepted is kept")
    again.close()
    watcher.stop()
    # A CONNACK larger than the client's Maximum Packet Size is not sent [MQTT-3.1.2-24]; one it cannot take is
    # refused before a session is made (HUB: 0x83; the assigned client id alone takes 48 bytes).
    if on_hub("a Maximum Packet Size below the CONNACK's: mosquitto 2.0.11 sends it anyway"):
        small = RawClient("KAZ")
        small.send(connect_packet("", props=[(MAXIMUM_PACKET_SIZE, 40)]))
        small.refused(0x83, "an empty client id and Maximum Packet Size 40")
        fits = RawClient("KAZ")
        fits.connected(props=[(MAXIMUM_PACKET_SIZE, 40)])  # an id of its own: the CONNACK fits
        fits.close()
    # Everyone else is still served.
    topic = chat("still-serving")
    ind = Client("IND")
    check(ind.subscribe(topic) == [1], "IND may read the chat")
    kaz = Client("KAZ")
    kaz.publish(topic, "still serving")
    check(payloads(ind.received(1)) == ["still serving"], "the hub stopped serving others")
    ind.stop()
    kaz.stop()


def limits_v311():
    """MQTT 3.1.1 on a hub started with --limit and --max-packet: what the configuration already does today."""
    if ARGS.limit:
        live = [Client("KAZ", protocol=4) for _ in range(ARGS.limit)]
        sock = tls_socket("KAZ")
        body = string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 30) + string(unique("over"))
        sock.sendall(frame(CONNECT, 0, body))
        check(sock.recv(4) == b"\x20\x02\x00\x03",
              "connection %d of %d: expected CONNACK 3" % (ARGS.limit + 1, ARGS.limit))
        for client in live:
            client.stop()
    if ARGS.max_packet:
        client = Client("KAZ", protocol=4)
        topic = chat("size")
        client.publish(topic, "x" * (ARGS.max_packet // 2))
        client.client.publish(topic, "x" * ARGS.max_packet, qos=1)
        try:
            client.disconnects.get(timeout=TIMEOUT)
        except queue.Empty:
            fail("a packet above mqtt.maximumPacketSize did not close the connection")
        client.client.loop_stop()


SCENARIOS = {f.__name__: f for f in [
    connack_properties, reason_not_authorized, module_rejection, connack_codes, session_expiry_prepare,
    session_expiry_resume, message_expiry, topic_alias_inbound, topic_alias_outbound, receive_maximum,
    shared_subscriptions, no_local, retain_handling, request_response, user_properties, will_delay,
    server_disconnects, interop_v311_v5, malformed_v5, limits_v311]}

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pki", required=True)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--max-packet", type=int)
    parser.add_argument("--out")
    parser.add_argument("--reference", action="store_true")
    ARGS = parser.parse_args()
    SCENARIOS[ARGS.scenario]()
    print("OK " + ARGS.scenario, flush=True)
