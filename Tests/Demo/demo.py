"""`make demo`: a scripted scenario against a running PeaceHub with real MQTT clients (paho-mqtt).

Usage: demo.py --port PORT --data DIR --peacehub BINARY
Each step prints what happened; the script exits 1 at the first step that does not hold.
"""
import argparse
import json
import os
import queue
import re
import subprocess
import sys
import time
import uuid

import paho.mqtt.client as mqtt

ARGS = None


def step(title):
    print("\n== " + title, flush=True)


def say(text):
    print("   " + text, flush=True)


def fail(text):
    print("   FAILED: " + text, flush=True)
    sys.exit(1)


def peacehub(*arguments):
    environment = dict(os.environ, PEACEHUB_DATA_DIR=ARGS.data, PEACEHUB_PLUGINS_DIR=ARGS.plugins)
    return subprocess.run([ARGS.peacehub, *arguments], env=environment, capture_output=True, text=True, timeout=120)


class Client:
    def __init__(self, cert, key, client_id=None, clean=True):
        self.messages = queue.Queue()
        self.disconnected = queue.Queue()
        connected = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "demo-" + uuid.uuid4().hex[:8],
                                  clean_session=clean, protocol=mqtt.MQTTv311)
        self.client.tls_set(ca_certs=os.path.join(ARGS.data, "pki", "ca.pem"), certfile=cert, keyfile=key)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_connect = lambda c, u, f, rc, p: connected.put(rc)
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnected.put(rc)
        self.client.reconnect_delay_set(min_delay=30, max_delay=60)
        self.client.connect("127.0.0.1", ARGS.port)
        self.client.loop_start()
        rc = connected.get(timeout=10)
        if rc.is_failure:
            fail("connection refused: %s" % rc)

    @staticmethod
    def contingent(code, **options):
        folder = os.path.join(ARGS.data, "pki", "contingents")
        return Client(os.path.join(folder, code + ".pem"), os.path.join(folder, code + ".key"), **options)

    def subscribe(self, topic, qos=1):
        self.client.subscribe(topic, qos)
        time.sleep(0.3)

    def publish(self, topic, payload, qos=1):
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=10)

    def next(self, seconds=5):
        try:
            return self.messages.get(timeout=seconds)
        except queue.Empty:
            return None

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def envelope(precedence, body):
    return json.dumps({"precedence": precedence, "securityLabel": "UN RESTRICTED", "body": body})


def main():
    step("1. KAZ and IND exchange direct messages")
    kaz = Client.contingent("KAZ")
    ind = Client.contingent("IND")
    kaz.subscribe("contingents/KAZ/inbox")
    kaz.subscribe("contingents/KAZ/notices")
    ind.subscribe("contingents/IND/inbox")
    ind.subscribe("missions/UNIFIL/reports/+")
    kaz.publish("contingents/IND/inbox", "KAZ company: patrol sector West completed")
    message = ind.next()
    if not message or b"patrol" not in message.payload:
        fail("IND did not receive KAZ's message")
    say("IND received on %s: %s" % (message.topic, message.payload.decode()))
    ind.publish("contingents/KAZ/inbox", "INDBATT: acknowledged, well done")
    message = kaz.next()
    if not message or b"acknowledged" not in message.payload:
        fail("KAZ did not receive IND's answer")
    say("KAZ received on %s: %s" % (message.topic, message.payload.decode()))

    step("2. KAZ files a valid UNIFIL report; IND, in the same mission, receives it with annotations")
    report = {"location": {"lat": 33.2, "lon": 35.4}, "occurredAt": "2026-11-20T08:00:00Z",
              "narrative": "cluster munition remnants near the road", "uxoType": "CLUSTER_MUNITION", "marked": True,
              "eodTasked": False}
    kaz.publish("missions/UNIFIL/reports/UXO", envelope("IMMEDIATE", report))
    message = ind.next()
    if not message:
        fail("the report was not delivered")
    annotations = json.loads(message.payload).get("annotations", {})
    if annotations.get("insideArea") is not True:
        fail("no annotations on the delivered report: %s" % message.payload)
    say("IND received the UXO report, annotated by the UNIFIL module: %s" % json.dumps(annotations, sort_keys=True))

    step("3. An invalid report is refused with its reason")
    del report["location"]
    kaz.publish("missions/UNIFIL/reports/UXO", envelope("IMMEDIATE", report))
    notice = kaz.next()
    if not notice or b"report-rejected" not in notice.payload:
        fail("no rejection notice")
    say("KAZ was told on %s: %s" % (notice.topic, notice.payload.decode()))
    if ind.next(seconds=1.5):
        fail("the invalid report was delivered")
    say("IND did not receive it")

    step("4. A FLASH message queued for an offline contingent arrives first when it reconnects")
    desk = Client.contingent("IND", client_id="ind-demo-desk", clean=False)
    desk.subscribe("contingents/IND/inbox")
    desk.stop()
    say("IND's desk went offline (persistent session)")
    for precedence, text in [("ROUTINE", "weekly logistics summary"), ("PRIORITY", "convoy schedule change"),
                             ("FLASH", "troops in contact near Blue Line marker BP-37")]:
        kaz.publish("contingents/IND/inbox", envelope(precedence, {"text": text}))
        say("KAZ sent %-8s %s" % (precedence, text))
    desk = Client.contingent("IND", client_id="ind-demo-desk", clean=False)
    order = []
    while True:
        message = desk.next(seconds=3)
        if not message:
            break
        body = json.loads(message.payload)
        order.append(body["precedence"])
        say("IND's desk received %-8s %s" % (body["precedence"], body["body"]["text"]))
    if order != ["FLASH", "PRIORITY", "ROUTINE"]:
        fail("queued messages arrived as %s" % order)
    desk.stop()
    Client.contingent("IND", client_id="ind-demo-desk", clean=True).stop()

    step("5. A readiness check names what a person lacks")
    result = peacehub("registry", "readiness", "--person", "KAZ-100202", "--mission", "UNIFIL")
    say(result.stdout.strip().replace("\n", "\n   "))
    if result.returncode != 3 or "TRAINING" not in result.stdout:
        fail("expected KAZ-100202 to be not ready for lack of training (exit 3): %s %s" % (result.returncode, result.stderr))

    step("6. Revoking a certificate disconnects its client")
    device = "demo-%s" % uuid.uuid4().hex[:6]
    issued = peacehub("pki", "issue", "--contingent", "UZB", "--device", device, "--days", "1")
    if issued.returncode != 0:
        fail(issued.stderr)
    serial = re.search(r"serial ([0-9A-F]+)", issued.stdout).group(1)
    folder = os.path.join(ARGS.data, "pki", "contingents")
    uzb = Client(os.path.join(folder, "UZB-%s.pem" % device), os.path.join(folder, "UZB-%s.key" % device))
    say("UZB device %s connected with certificate %s" % (device, serial))
    revoked = peacehub("pki", "revoke", serial)
    if revoked.returncode != 0:
        fail(revoked.stderr)
    say("revoked %s; the CRL was rewritten" % serial)
    try:
        uzb.disconnected.get(timeout=10)
    except queue.Empty:
        fail("the revoked client is still connected")
    say("the hub closed the revoked client's connection")
    uzb.client.loop_stop()

    kaz.stop()
    ind.stop()
    print("\ndemo: all 6 steps passed", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8883)
    parser.add_argument("--data", required=True)
    parser.add_argument("--peacehub", required=True)
    parser.add_argument("--plugins", required=True, help="the hub's mission modules, for the readiness step")
    ARGS = parser.parse_args()
    main()
