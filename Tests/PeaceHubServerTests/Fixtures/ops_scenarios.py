"""Operations scenarios against a running PeaceHub (drain, reload, logs), with paho-mqtt.

Usage: ops_scenarios.py SCENARIO --port PORT --pki DIR [options]
Reuses the paho client of mqtt_scenarios.py. Exits 0 when the scenario holds; prints what it saw either way.
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtt_scenarios as base  # noqa: E402
from mqtt_scenarios import Client, check, fail  # noqa: E402

ARGS = None


def touch(path):
    with open(path, "a"):
        pass


# Drain: the Swift test runs drain_subscriber and drain_publisher in the background, sends SIGTERM to the hub
# mid-stream, restarts it on the same files, then runs drain_collect.


def drain_subscriber():
    """IND's persistent session (clean session 0) receives live, appending each number to --received, until
    the hub closes the connection."""
    out = open(ARGS.received, "a", buffering=1)
    lock = threading.Lock()

    def on_message(client, userdata, message):
        with lock:
            out.write(message.payload.decode()[1:] + "\n")

    subscriber = Client("IND", client_id="ind-drain", clean=False)
    subscriber.client.on_message = on_message
    subscriber.subscribe("contingents/IND/inbox", qos=1)
    touch(ARGS.ready)
    subscriber.disconnects.get(timeout=300)
    subscriber.client.loop_stop()
    print("subscriber disconnected by the hub", flush=True)


def drain_publisher():
    """KAZ publishes QoS 1 messages m1, m2, ... to IND's inbox, up to 20 unacknowledged at once, appending each
    acknowledged number to --out, until the hub closes the connection."""
    out = open(ARGS.out, "a", buffering=1)
    publisher = Client("KAZ", client_id="kaz-drain")
    acknowledged = []  # message ids, appended by paho's thread (which holds its own locks: nothing else here)
    publisher.client.on_publish = lambda client, userdata, mid, reason, properties: acknowledged.append(mid)
    numbers = {}
    written = 0
    n = 0
    while publisher.disconnects.empty() and n < 20000:
        while written < len(acknowledged):
            out.write("%d\n" % numbers.pop(acknowledged[written]))
            written += 1
        if n - written >= 20:
            time.sleep(0.002)
            continue
        n += 1
        numbers[publisher.client.publish("contingents/IND/inbox", "m%d" % n, qos=1).mid] = n
    time.sleep(0.5)
    publisher.client.loop_stop()
    for mid in acknowledged[written:]:
        out.write("%d\n" % numbers.pop(mid))
    print("publisher stopped after sending %d" % n, flush=True)


def drain_collect():
    acked = set(int(line) for line in open(ARGS.out) if line.strip())
    check(len(acked) > 0, "nothing was acknowledged before the shutdown")
    seen = set(int(line) for line in open(ARGS.received) if line.strip())
    live = len(seen)
    subscriber = Client("IND", client_id="ind-drain", clean=False)
    check(subscriber.session_present, "the persistent session did not survive the restart")
    while True:
        got = subscriber.received(1, seconds=3)
        if not got:
            break
        seen.add(int(got[0].payload.decode()[1:]))
    subscriber.stop()
    lost = sorted(acked - seen)
    print("acknowledged %d, received live %d, received in all %d, lost %d"
          % (len(acked), live, len(seen), len(lost)), flush=True)
    check(not lost, "acknowledged but lost: %r" % lost[:20])


# Reload


def hold():
    """Connects as --who and waits (at most 60 s) for the hub to close the connection."""
    client = Client(ARGS.who)
    check(not client.refused, "refused at connect: " + client.reason)
    touch(ARGS.ready)
    try:
        client.disconnects.get(timeout=60)
    except Exception:
        fail("still connected after 60 s")
    client.client.loop_stop()
    print("disconnected by the hub", flush=True)


def connections():
    """Opens --count connections as --who at once and prints how many the hub accepted."""
    clients = [Client(ARGS.who) for _ in range(ARGS.count)]
    accepted = sum(1 for client in clients if not client.refused)
    refused = [client.reason for client in clients if client.refused]
    for client in clients:
        if not client.refused:
            client.stop()
        else:
            client.client.loop_stop()
    print("accepted %d, refused %d %s" % (accepted, len(refused), sorted(set(refused))), flush=True)


# Logs


def password():
    """Connects with a user name and --password, publishes once and disconnects."""
    client = base.mqtt.Client(base.mqtt.CallbackAPIVersion.VERSION2, client_id="kaz-secret", protocol=base.mqtt.MQTTv311)
    cert, key = base.cert_files(ARGS.who)
    client.tls_set(ca_certs=os.path.join(ARGS.pki, "ca.pem"), certfile=cert, keyfile=key)
    client.username_pw_set("kaz-user", ARGS.password)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    client.connect("127.0.0.1", ARGS.port)
    client.loop_start()
    check(connected.wait(10), "no CONNACK")
    client.publish("contingents/KAZ/inbox", "hello", qos=1).wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()


SCENARIOS = {f.__name__: f for f in [drain_subscriber, drain_publisher, drain_collect, hold, connections, password]}

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pki", required=True)
    parser.add_argument("--out")
    parser.add_argument("--received")
    parser.add_argument("--ready")
    parser.add_argument("--who", default="KAZ")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--password")
    ARGS = parser.parse_args()
    base.ARGS = ARGS
    SCENARIOS[ARGS.scenario]()
    print("OK " + ARGS.scenario, flush=True)
