"""The admin API and the monitoring listener of a running PeaceHub, checked against docs/admin-api.yaml.

Usage: admin_api.py SCENARIO --admin-port P --monitoring-port P --mqtt-port P --pki DIR --spec FILE [--routes FILE]
                     [--expect ...]

Every response is validated against the schema the document gives for its operation and status, and the status
must be one the document lists. `contract` calls every operation as allowed and refused principals (contingents
KAZ, KGZ, TJK, IND, operator duty), then checks that every operation of the document was called with success, that
every operation not open to all was refused to a contingent, that a connection without a client certificate fails
the TLS handshake for every operation, and that the server's routes (--routes, written by the Swift test) are
exactly the document's. Exits 0 when the scenario holds.
"""
import argparse
import http.client
import json
import os
import queue
import re
import ssl
import subprocess
import sys
import time
import urllib.parse
import uuid

import paho.mqtt.client as mqtt
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_document
from prometheus_client.parser import text_string_to_metric_families

ARGS = None
SPEC = None
METHODS = ("get", "post", "patch", "delete", "put")
# (METHOD, path template) -> set of (principal kind, status)
SEEN = {}


def fail(message):
    print("FAILED: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def cert_files(who):
    folder, name = ("operators", who.split(":", 1)[1]) if who.startswith("operator:") else ("contingents", who)
    return os.path.join(ARGS.pki, folder, name + ".pem"), os.path.join(ARGS.pki, folder, name + ".key")


def tls_context(who):
    context = ssl.create_default_context(cafile=os.path.join(ARGS.pki, "ca.pem"))
    if who:
        context.load_cert_chain(*cert_files(who))
    return context


def operation(method, template):
    item = SPEC["paths"].get(template)
    check(item is not None and method.lower() in item, "%s %s is not in the document" % (method, template))
    return item[method.lower()]


def schema_validator(schema):
    wrapped = dict(schema)
    wrapped["components"] = SPEC["components"]
    return OAS31Validator(wrapped, format_checker=OAS31Validator.FORMAT_CHECKER)


def validate(schema, instance, what):
    errors = sorted(schema_validator(schema).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        fail("%s does not match the document: %s at %s\n%s" % (
            what, errors[0].message, "/".join(str(p) for p in errors[0].absolute_path),
            json.dumps(instance, indent=1)[:1500]))


def resolve(reference):
    node = SPEC
    for part in reference.lstrip("#/").split("/"):
        node = node[part]
    return node


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.json = None
        if body and headers.get("content-type", "").startswith("application/json"):
            self.json = json.loads(body)

    @property
    def code(self):
        return (self.json or {}).get("error", {}).get("code")


class Client:
    """Keep-alive HTTPS connections, one per principal, to the admin listener."""

    def __init__(self):
        self.connections = {}

    def connection(self, who):
        if who not in self.connections:
            self.connections[who] = http.client.HTTPSConnection(
                "127.0.0.1", ARGS.admin_port, context=tls_context(who), timeout=30)
        return self.connections[who]

    def raw(self, who, method, path, body=None, headers=None):
        connection = self.connection(who)
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=data, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
        except (http.client.HTTPException, OSError):
            connection.close()
            del self.connections[who]
            raise
        if answer.getheader("connection", "").lower() == "close":
            connection.close()
            del self.connections[who]
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, payload)

    def call(self, who, method, template, params=None, query=None, body=None, expect=None, validate_body=True):
        """Calls operation METHOD TEMPLATE and checks the answer against the document; `expect` is the status."""
        op = operation(method, template)
        path = template
        for name, value in (params or {}).items():
            path = path.replace("{%s}" % name, urllib.parse.quote(str(value), safe=""))
        if query:
            path += "?" + urllib.parse.urlencode(query)
        if body is not None and validate_body and "requestBody" in op:
            request_schema = op["requestBody"]["content"]["application/json"]["schema"]
            validate(request_schema, body, "the request body of %s %s" % (method, template))
        response = self.raw(who, method, path, body)
        label = "%s %s as %s -> %d" % (method, path, who, response.status)
        responses = op["responses"]
        check(str(response.status) in responses, "%s: status not in the document (%s)\n%s" % (
            label, ", ".join(responses), response.body[:500]))
        declared = responses[str(response.status)]
        if "$ref" in declared:
            declared = resolve(declared["$ref"])
        content = declared.get("content")
        if content:
            media = next(iter(content))
            check(response.headers.get("content-type", "").startswith(media.split(";")[0]),
                  "%s: content type %s, the document says %s" % (label, response.headers.get("content-type"), media))
            if media == "application/json":
                validate(content[media]["schema"], response.json, label)
        else:
            check(not response.body, "%s: a body where the document has none" % label)
        kind = "operator" if who.startswith("operator:") else "contingent"
        SEEN.setdefault((method, template), set()).add((kind, response.status))
        if expect is not None:
            check(response.status == expect, "%s, expected %d: %s" % (label, expect, response.body[:600]))
        return response

    def close(self):
        for connection in self.connections.values():
            connection.close()


API = None
OP = "operator:duty"


def items_of(who, template, query=None, params=None):
    """Every item of a list, following `next` links page by page."""
    query = dict(query or {})
    response = API.call(who, "GET", template, params=params, query=query, expect=200)
    items = list(response.json["items"])
    pages = 1
    path = template
    for name, value in (params or {}).items():
        path = path.replace("{%s}" % name, urllib.parse.quote(str(value), safe=""))
    while response.json["next"]:
        link = urllib.parse.urlsplit(response.json["next"])
        check(link.path == path, "next link %s does not lead to %s" % (response.json["next"], path))
        query = dict(urllib.parse.parse_qsl(link.query))
        response = API.call(who, "GET", template, params=params, query=query, expect=200)
        items += response.json["items"]
        pages += 1
    return items, pages


# Scenarios


def contract():
    validate_document(SPEC)  # a valid OpenAPI 3.1 document first
    persons()
    qualifications()
    readiness()
    deployments()
    equipment()
    missions()
    reports()
    modules()
    sessions()
    audit()
    protocol_errors()
    monitoring()
    without_certificate()
    coverage()


def persons():
    me = API.call("KAZ", "GET", "/me", expect=200)
    check(me.json == {"principal": "contingent:KAZ", "kind": "contingent", "name": "KAZ"}, "me: %r" % me.json)
    check(API.call(OP, "GET", "/me", expect=200).json["kind"] == "operator", "operator /me")

    seen_by_kgz, pages = items_of("KGZ", "/persons", {"contingent": "KAZ", "limit": 4})
    check(pages > 1, "KAZ's people fit on one page of 4")
    check(all(p["restricted"] and "dateOfBirth" not in p for p in seen_by_kgz), "KGZ sees KAZ's dates of birth")
    seen_by_kaz, _ = items_of("KAZ", "/persons", {"contingent": "KAZ", "limit": 500})
    check([p["serviceNumber"] for p in seen_by_kaz] == [p["serviceNumber"] for p in seen_by_kgz], "paging lost people")
    check(all(not p["restricted"] and "dateOfBirth" in p for p in seen_by_kaz), "KAZ does not see its own in full")
    troops = API.call(OP, "GET", "/persons", query={"category": "POLICE", "contingent": "TJK"}, expect=200).json["items"]
    check(troops and all(p["category"] == "POLICE" for p in troops), "category filter: %r" % troops)
    planned = API.call(OP, "GET", "/persons", query={"mission": "UNIFIL", "deploymentStatus": "PLANNED"}, expect=200)
    check("KAZ-100201" in [p["serviceNumber"] for p in planned.json["items"]], "mission/status filter")
    for bad in [{"limit": 0}, {"limit": 501}, {"colour": "red"}, {"category": "PILOT"}, {"cursor": "%%"},
                {"contingent": "kaz"}, {"nationality": "KAZZ"}]:
        check(API.call("KAZ", "GET", "/persons", query=bad, expect=400).code == "bad_request", "bad query %r" % bad)

    new = {"serviceNumber": "KAZ-900001", "latinName": "Aliya Serik", "cyrillicName": "Әлия Серік", "sex": "F",
           "contingent": "KAZ", "rank": "Captain", "rankCode": "OF-2", "category": "MILITARY_OBSERVER",
           "dateOfBirth": "1991-01-01", "commissionedServiceYears": 8,
           "languages": [{"code": "en", "level": "C1"}, {"code": "ru", "level": "C2"}]}
    created = API.call("KAZ", "POST", "/persons", body=new, expect=201)
    check(created.headers.get("location") == "/persons/KAZ-900001", "Location: %r" % created.headers)
    check(created.json["person"]["nationality"] == "KAZ", "nationality defaults to the contingent")
    check(API.call("KGZ", "POST", "/persons", body=dict(new, serviceNumber="KAZ-900002"), expect=403).code
          == "access_denied", "KGZ registered a KAZ person")
    check(API.call("KAZ", "POST", "/persons", body=new, expect=409).code == "already_exists", "duplicate")
    check(API.call("KAZ", "POST", "/persons", body=dict(new, serviceNumber="KAZ-900003", latinName=" "),
                   expect=422).code == "invalid_input", "blank name")
    check(API.call("KAZ", "POST", "/persons", body=dict(new, colour="blue"), expect=400, validate_body=False).code
          == "bad_request", "unknown member")
    check(API.call("KAZ", "POST", "/persons", body=dict(new, sex="X"), expect=400, validate_body=False).code
          == "bad_request", "bad sex")
    # The schema has no null for a creation's members: refused, not read as absent.
    check(API.call("KAZ", "POST", "/persons", body=dict(new, serviceNumber="KAZ-900004", nationality=None),
                   expect=400, validate_body=False).json["error"]["message"] == "member 'nationality' may not be null",
          "null member")
    ind = dict(new, serviceNumber="IND-900001", contingent="IND", cyrillicName=None)
    del ind["cyrillicName"]
    API.call(OP, "POST", "/persons", body=ind, expect=201)

    kgz_view = API.call("KGZ", "GET", "/persons/{serviceNumber}", params={"serviceNumber": "KAZ-100201"}, expect=200)
    check(kgz_view.json["person"]["restricted"], "KGZ's view is not restricted")
    check(all(q["kind"] != "MEDICAL" and "evidenceHash" not in q for q in kgz_view.json["qualifications"]),
          "KGZ sees medical details")
    own = API.call("KAZ", "GET", "/persons/{serviceNumber}", params={"serviceNumber": "KAZ-100201"}, expect=200)
    check(any(q["kind"] == "MEDICAL" for q in own.json["qualifications"]), "KAZ misses its own medical records")
    check(own.json["deployments"] and own.json["deployments"][0]["subject"] == "KAZ-100201", "deployments")
    API.call("KAZ", "GET", "/persons/{serviceNumber}", params={"serviceNumber": "NOBODY-1"}, expect=404)

    target = {"serviceNumber": "KAZ-900001"}
    changed = API.call("KAZ", "PATCH", "/persons/{serviceNumber}", params=target,
                       body={"rank": "Major", "rankCode": None}, expect=200)
    check(changed.json["person"]["rank"] == "Major" and "rankCode" not in changed.json["person"], "patch: %r" % changed.json)
    check(API.call("KGZ", "PATCH", "/persons/{serviceNumber}", params=target, body={"rank": "General"},
                   expect=403).code == "access_denied", "KGZ changed a KAZ person")
    API.call("KAZ", "PATCH", "/persons/{serviceNumber}", params=target, body={"contingent": "IND"}, expect=403)
    API.call("KAZ", "PATCH", "/persons/{serviceNumber}", params=target, body={"latinName": None}, expect=400,
             validate_body=False)
    API.call("KAZ", "PATCH", "/persons/{serviceNumber}", params=target, body={"commissionedServiceYears": 99},
             expect=422)
    API.call(OP, "PATCH", "/persons/{serviceNumber}", params=target, body={"rank": "Lieutenant Colonel"}, expect=200)

    API.call("KAZ", "DELETE", "/persons/{serviceNumber}", params=target, query={"force": "yes"}, expect=400)
    API.call("KGZ", "DELETE", "/persons/{serviceNumber}", params=target, expect=403)
    API.call("KAZ", "DELETE", "/persons/{serviceNumber}", params=target, expect=204)
    API.call("KAZ", "DELETE", "/persons/{serviceNumber}", params=target, expect=404)
    check(API.call("KAZ", "DELETE", "/persons/{serviceNumber}", params={"serviceNumber": "KAZ-100201"},
                   expect=409).code == "invariant_violated", "removed a person with deployments")
    API.call(OP, "DELETE", "/persons/{serviceNumber}", params={"serviceNumber": "IND-900001"}, expect=204)


def qualifications():
    template = "/persons/{serviceNumber}/qualifications"
    own = {"serviceNumber": "KAZ-100203"}
    kaz_list, _ = items_of("KAZ", template, {"limit": 2}, params=own)
    kgz_list, _ = items_of("KGZ", template, {"limit": 2}, params=own)
    check(any(q["kind"] == "MEDICAL" for q in kaz_list), "KAZ misses medical qualifications")
    check(not any(q["kind"] == "MEDICAL" for q in kgz_list), "KGZ sees medical qualifications")
    trainings = API.call("KAZ", "GET", template, params=own, query={"kind": "TRAINING"}, expect=200).json["items"]
    check(trainings and all(q["kind"] == "TRAINING" for q in trainings), "kind filter")
    valid = API.call("KAZ", "GET", template, params=own, query={"validOn": "2100-01-01"}, expect=200).json["items"]
    check(all(q.get("expiresOn") is None for q in valid), "validOn keeps expired qualifications")

    english = {"kind": "LANGUAGE", "code": "ENGLISH-TEST", "provider": "British Council", "issuedOn": "2026-11-01",
               "expiresOn": "2028-11-01", "level": "B2"}
    added = API.call("KAZ", "POST", template, params=own, body=english, expect=201)
    qid = added.json["id"]
    check(added.headers["location"] == "/persons/KAZ-100203/qualifications/%d" % qid, "Location")
    API.call("KGZ", "POST", template, params=own, body=english, expect=403)
    twin = API.call("KAZ", "POST", template, params=own, body=english, expect=409)
    check(twin.code == "already_exists", "a second ENGLISH-TEST of the same day: %r" % twin.body)
    API.call("KAZ", "POST", template, params=own, body=dict(english, level="Z9"), expect=422)
    one = dict(own, id=qid)
    item = "/persons/{serviceNumber}/qualifications/{id}"
    changed = API.call("KAZ", "PATCH", item, params=one, body={"level": "C1", "provider": None}, expect=200)
    check(changed.json["level"] == "C1" and "provider" not in changed.json, "patch: %r" % changed.json)
    API.call("KGZ", "PATCH", item, params=one, body={"level": "A1"}, expect=403)
    API.call("KAZ", "PATCH", item, params=dict(own, id=999999), body={"level": "A1"}, expect=404)
    API.call("KGZ", "DELETE", item, params=one, expect=403)
    API.call("KAZ", "DELETE", item, params=one, expect=204)
    API.call("KAZ", "DELETE", item, params=one, expect=404)


def readiness():
    template = "/persons/{serviceNumber}/readiness"
    query = {"mission": "UNIFIL", "asOf": "2026-12-15"}
    not_ready = API.call("KAZ", "GET", template, params={"serviceNumber": "KAZ-100202"}, query=query, expect=200).json
    check(not not_ready["ready"] and any(u["code"].startswith("TRAINING") for u in not_ready["unmet"]),
          "KAZ-100202: %r" % not_ready)
    ready = API.call(OP, "GET", template, params={"serviceNumber": "KAZ-100201"}, query=query, expect=200).json
    check(ready["ready"] and ready["unmet"] == [], "KAZ-100201: %r" % ready)
    API.call("KGZ", "GET", template, params={"serviceNumber": "KAZ-100202"}, query=query, expect=403)
    API.call("KAZ", "GET", template, params={"serviceNumber": "KAZ-100202"}, query={"asOf": "2026-12-15"}, expect=400)
    API.call("KAZ", "GET", template, params={"serviceNumber": "KAZ-100202"}, query={"mission": "NOPE"}, expect=404)


def planned_deployment(service_number):
    rows, _ = items_of(OP, "/deployments", {"status": "PLANNED", "mission": "UNIFIL", "limit": 100})
    return next(d for d in rows if d["subject"] == service_number)


def deployments():
    everything, pages = items_of(OP, "/deployments", {"limit": 7})
    check(pages > 2 and len({d["id"] for d in everything}) == len(everything), "deployment paging")
    kgz_only = API.call("KAZ", "GET", "/deployments", query={"contingent": "KGZ"}, expect=200).json["items"]
    check(kgz_only and all(d["subject"].startswith("KGZ") for d in kgz_only), "contingent filter: %r" % kgz_only)
    one = API.call("KGZ", "GET", "/deployments/{id}", params={"id": everything[0]["id"]}, expect=200).json
    check(one == everything[0], "one deployment differs from the list's")
    API.call("KGZ", "GET", "/deployments/{id}", params={"id": 999999}, expect=404)

    plan = {"person": "KAZ-100205", "mission": "MINURSO", "role": "Military observer", "start": "2027-07-01",
            "end": "2028-06-30"}
    created = API.call("KAZ", "POST", "/deployments", body=plan, expect=201)
    check(created.json["status"] == "PLANNED" and created.json["subjectKind"] == "person", "plan: %r" % created.json)
    API.call("KGZ", "POST", "/deployments", body=dict(plan, start="2028-07-01", end="2029-01-01"), expect=403)
    check(API.call("KAZ", "POST", "/deployments", body=dict(plan, start="2027-08-01"), expect=409).code
          == "invariant_violated", "overlap")
    # Both a person and a contingent: outside the document (oneOf), refused 400.
    API.call("KAZ", "POST", "/deployments", body=dict(plan, contingent="KAZ"), expect=400, validate_body=False)
    API.call("KAZ", "POST", "/deployments", body=dict(plan, start="2028-07-01", end="2028-01-01"), expect=422)

    transitions = "/deployments/{id}/transitions"
    ready = planned_deployment("KAZ-100201")
    API.call("KGZ", "POST", transitions, params={"id": ready["id"]}, body={"to": "IN_TRANSIT", "on": "2026-12-14"},
             expect=403)
    # Moving into progress makes the contingent part of the mission: an operator's decision, not its own.
    into_transit = {"to": "IN_TRANSIT", "on": "2026-12-14"}
    check(API.call("KAZ", "POST", transitions, params={"id": ready["id"]}, body=into_transit, expect=403).code
          == "access_denied", "a contingent moved its own deployment into progress")
    moved = API.call(OP, "POST", transitions, params={"id": ready["id"]}, body={"to": "IN_TRANSIT", "on": "2026-12-14"},
                     expect=200)
    check(moved.json["status"] == "IN_TRANSIT", "IN_TRANSIT: %r" % moved.json)
    check(API.call(OP, "POST", transitions, params={"id": ready["id"]}, body={"to": "EXTENDED"}, expect=409).code
          == "invariant_violated", "an illegal move")
    lacking = planned_deployment("KAZ-100202")
    refused = API.call(OP, "POST", transitions, params={"id": lacking["id"]},
                       body={"to": "IN_TRANSIT", "on": "2026-12-14"}, expect=422)
    check(refused.code == "not_ready" and refused.json["error"]["details"], "not ready: %r" % refused.json)
    started = API.call(OP, "POST", transitions, params={"id": ready["id"]}, body={"to": "IN_MISSION", "on": "2026-12-15"},
                       expect=200)
    check(started.json["actualStart"] == "2026-12-15", "IN_MISSION: %r" % started.json)

    end = "/deployments/{id}/end"
    API.call("KGZ", "POST", end, params={"id": created.json["id"]}, body={}, expect=403)
    cancelled = API.call("KAZ", "POST", end, params={"id": created.json["id"]}, body={"on": "2027-01-01"}, expect=200)
    check(cancelled.json["status"] == "ENDED" and "actualEnd" not in cancelled.json, "cancel: %r" % cancelled.json)
    home = API.call("KAZ", "POST", end, params={"id": ready["id"]},
                    body={"on": "2027-01-20", "early": True, "reason": "medical"}, expect=200)
    check(home.json["status"] == "REPATRIATED_EARLY" and home.json["repatriationReason"] == "medical", "early end")
    API.call("KAZ", "POST", end, params={"id": ready["id"]}, body={}, expect=409)


def equipment():
    listed, pages = items_of("KGZ", "/equipment", {"limit": 2})
    check(pages >= 3 and [e["serial"] for e in listed] == sorted(e["serial"] for e in listed), "equipment paging")
    broken = API.call("KGZ", "GET", "/equipment", query={"status": "UNSERVICEABLE"}, expect=200).json["items"]
    check([e["serial"] for e in broken] == ["KAZ-COE-0003"], "status filter: %r" % broken)
    record = API.call("KGZ", "GET", "/equipment/{serial}", params={"serial": "KAZ-COE-0002"}, expect=200).json
    check(len(record["inspections"]) == 2, "inspections: %r" % record)
    API.call("KGZ", "GET", "/equipment/{serial}", params={"serial": "NOPE"}, expect=404)

    new = {"serial": "KAZ-COE-0900", "contingent": "KAZ", "coeClass": "MAJOR_EQUIPMENT", "category": "Ambulance",
           "leaseType": "WET", "description": "Level-1 ambulance"}
    API.call("KGZ", "POST", "/equipment", body=new, expect=403)
    created = API.call("KAZ", "POST", "/equipment", body=new, expect=201)
    check(created.json["status"] == "SERVICEABLE" and created.headers["location"] == "/equipment/KAZ-COE-0900",
          "equipment: %r" % created.json)
    API.call("KAZ", "POST", "/equipment", body=new, expect=409)
    serial = {"serial": "KAZ-COE-0900"}
    changed = API.call("KAZ", "PATCH", "/equipment/{serial}", params=serial,
                       body={"status": "UNSERVICEABLE", "description": None}, expect=200).json
    check(changed["status"] == "UNSERVICEABLE" and "description" not in changed, "patch: %r" % changed)
    API.call("KGZ", "PATCH", "/equipment/{serial}", params=serial, body={"status": "LOST_DAMAGED"}, expect=403)
    API.call("KAZ", "PATCH", "/equipment/{serial}", params=serial, body={"contingent": "IND"}, expect=403)
    inspection = {"type": "ARRIVAL", "date": "2026-11-30", "result": "Serviceable"}
    API.call("KGZ", "POST", "/equipment/{serial}/inspections", params=serial, body=inspection, expect=403)
    API.call("KAZ", "POST", "/equipment/{serial}/inspections", params=serial, body=inspection, expect=201)
    API.call("KAZ", "POST", "/equipment/{serial}/inspections", params=serial, body=dict(inspection, result=""),
             expect=422)
    check(API.call("KAZ", "DELETE", "/equipment/{serial}", params=serial, expect=409).code == "invariant_violated",
          "removed equipment with inspections")
    spare = dict(new, serial="KAZ-COE-0901")
    API.call("KAZ", "POST", "/equipment", body=spare, expect=201)
    API.call("KGZ", "DELETE", "/equipment/{serial}", params={"serial": "KAZ-COE-0901"}, expect=403)
    API.call("KAZ", "DELETE", "/equipment/{serial}", params={"serial": "KAZ-COE-0901"}, expect=204)


def missions():
    contingents, _ = items_of("TJK", "/contingents", {"limit": 2})
    check(sorted(c["code"] for c in contingents) == ["IND", "KAZ", "KGZ", "TJK", "UZB"], "contingents")
    listed, _ = items_of("TJK", "/missions", {"date": "2027-06-01"})
    unifil = next(m for m in listed if m["mission"]["code"] == "UNIFIL")
    check(unifil["lifecycle"] == "DRAWDOWN", "UNIFIL in June 2027: %r" % unifil)
    one = API.call("TJK", "GET", "/missions/{mission}", params={"mission": "UNIFIL"}, query={"date": "2026-12-01"},
                   expect=200).json
    check(one["lifecycle"] == "ACTIVE", "UNIFIL today: %r" % one)
    API.call("TJK", "GET", "/missions/{mission}", params={"mission": "NOPE"}, expect=404)
    API.call("TJK", "GET", "/missions", query={"date": "yesterday"}, expect=400)

    template = "/missions/{mission}/readiness"
    every, _ = items_of(OP, template, {"asOf": "2026-12-15", "limit": 1}, params={"mission": "UNIFIL"})
    check({"IND", "KAZ"} <= {r["subject"] for r in every}, "mission readiness: %r" % every)
    own = API.call("KAZ", "GET", template, params={"mission": "UNIFIL"}, query={"asOf": "2026-12-15"}, expect=200)
    check([r["subject"] for r in own.json["items"]] == ["KAZ"], "a contingent sees only itself")
    API.call("KGZ", "GET", template, params={"mission": "UNIFIL"}, query={"contingent": "KAZ"}, expect=403)
    API.call("KGZ", "GET", template, params={"mission": "NOPE"}, expect=404)


def publish_report(who, mission, report_type, body):
    """Publishes a report over MQTT as `who` and waits for its PUBACK."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="api-" + uuid.uuid4().hex[:10],
                         protocol=mqtt.MQTTv311)
    client.tls_set_context(tls_context(who))
    client.connect("127.0.0.1", ARGS.mqtt_port)
    client.loop_start()
    envelope = {"precedence": "IMMEDIATE", "securityLabel": "UN RESTRICTED", "body": body}
    info = client.publish("missions/%s/reports/%s" % (mission, report_type), json.dumps(envelope), qos=1)
    info.wait_for_publish(timeout=10)
    check(info.is_published(), "the report was not acknowledged")
    client.disconnect()
    client.loop_stop()


def reports():
    body = {"location": {"lat": 33.2, "lon": 35.4}, "occurredAt": "2026-11-20T08:00:00Z",
            "narrative": "cluster munition found", "uxoType": "CLUSTER_MUNITION", "marked": True, "eodTasked": False}
    publish_report("KAZ", "UNIFIL", "UXO", body)
    deadline = time.time() + 20
    found = []
    while time.time() < deadline and not found:
        found = API.call(OP, "GET", "/reports", query={"mission": "UNIFIL", "type": "UXO"}, expect=200).json["items"]
        if not found:
            time.sleep(0.2)
    check(found, "the published report never reached the archive")
    report = found[-1]
    check(report["body"] == body and report["status"] == "ACCEPTED" and report["sender"] == "KAZ", "report: %r" % report)
    check(report["location"] == {"lat": 33.2, "lon": 35.4} and report["annotations"], "report: %r" % report)
    check(report["precedence"] == "IMMEDIATE", "precedence: %r" % report)
    inside = API.call("KAZ", "GET", "/reports", query={"bbox": "35.0,33.0,35.5,33.3"}, expect=200).json["items"]
    check(report["id"] in [r["id"] for r in inside], "bbox around the report misses it")
    outside = API.call("KAZ", "GET", "/reports", query={"bbox": "35.5,33.0,36.0,33.3"}, expect=200).json["items"]
    check(report["id"] not in [r["id"] for r in outside], "bbox beside the report has it")
    day = report["receivedAt"][:10]
    span = API.call(OP, "GET", "/reports", query={"from": day, "to": "2100-01-01", "status": "ACCEPTED"}, expect=200)
    check(report["id"] in [r["id"] for r in span.json["items"]], "time range misses the report")
    later = API.call(OP, "GET", "/reports", query={"from": "2100-01-01T00:00:00Z"}, expect=200)
    check(later.json["items"] == [], "reports from the future")
    API.call("TJK", "GET", "/reports", query={"mission": "UNIFIL"}, expect=403)
    check(API.call("TJK", "GET", "/reports", expect=200).json["items"] == [], "TJK reads UNIFIL's reports")
    API.call(OP, "GET", "/reports", query={"bbox": "1,2,3"}, expect=400)
    API.call(OP, "GET", "/reports", query={"from": "last week"}, expect=400)
    API.call(OP, "GET", "/reports", query={"bbox": "36,33,35,34"}, expect=422)
    API.call(OP, "GET", "/reports", query={"status": "LOST"}, expect=400)
    # A parameter given twice: one reader takes the first, another the last.
    API.call(OP, "GET", "/reports", query=[("mission", "UNIFIL"), ("mission", "UNFICYP")], expect=400)


def modules():
    listed = API.call("TJK", "GET", "/modules", expect=200).json["items"]
    check(sorted(m["mission"] for m in listed) == ["MINURSO", "UNFICYP", "UNIFIL", "UNMOGIP"], "modules: %r" % listed)
    command = "/modules/{mission}/commands/{name}"
    inside = API.call("TJK", "POST", command, params={"mission": "UNIFIL", "name": "geocheck"},
                      body={"lat": 33.27, "lon": 35.5}, expect=200).json
    check(isinstance(inside, dict) and inside, "geocheck: %r" % inside)
    API.call("TJK", "POST", command, params={"mission": "unifil", "name": "describe"}, expect=200)
    API.call("TJK", "POST", command, params={"mission": "UNIFIL", "name": "geocheck"}, body={"lat": 200}, expect=422)
    check(API.call("KAZ", "POST", command, params={"mission": "UNIFIL", "name": "reload-data"}, body={},
                   expect=403).code == "access_denied", "a contingent ran an unknown command")
    check(API.call(OP, "POST", command, params={"mission": "UNIFIL", "name": "reload-data"}, body={}, expect=404).code
          == "module_unsupported", "unknown command")
    API.call(OP, "POST", command, params={"mission": "UNDOF", "name": "describe"}, expect=404)
    API.call(OP, "POST", command, params={"mission": "UNIFIL", "name": "describe"}, body=[1], expect=400,
             validate_body=False)


def sessions():
    disconnected = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="api-test-kaz", clean_session=False,
                         protocol=mqtt.MQTTv311)
    client.tls_set_context(tls_context("KAZ"))
    # No reconnection while the test looks at the session it closed.
    client.reconnect_delay_set(min_delay=120, max_delay=120)
    client.on_disconnect = lambda c, u, f, rc, p: disconnected.append(rc)
    subscribed = []
    client.on_subscribe = lambda c, u, mid, codes, p: subscribed.append(codes)
    client.connect("127.0.0.1", ARGS.mqtt_port)
    client.loop_start()
    client.subscribe("contingents/KAZ/inbox", qos=1)
    deadline = time.time() + 10
    while not subscribed and time.time() < deadline:
        time.sleep(0.05)
    listed, _ = items_of(OP, "/sessions", {"limit": 1})
    mine = next((s for s in listed if s["clientID"] == "api-test-kaz"), None)
    check(mine and mine["connected"] and mine["principal"] == "contingent:KAZ" and mine["persistent"],
          "sessions: %r" % listed)
    check(mine["subscriptions"] == [{"filter": "contingents/KAZ/inbox", "qos": 1}], "subscriptions: %r" % mine)
    API.call("KAZ", "GET", "/sessions", expect=403)
    API.call("KAZ", "DELETE", "/sessions/{clientID}", params={"clientID": "api-test-kaz"}, expect=403)
    API.call(OP, "DELETE", "/sessions/{clientID}", params={"clientID": "api-test-kaz"}, expect=204)
    deadline = time.time() + 10
    while not disconnected and time.time() < deadline:
        time.sleep(0.05)
    check(disconnected, "the client was not disconnected")
    client.loop_stop()
    # The session is gone with its connection, persistent or not: the client id is free.
    API.call(OP, "DELETE", "/sessions/{clientID}", params={"clientID": "api-test-kaz"}, expect=404)
    kept = [s for s in API.call(OP, "GET", "/sessions", expect=200).json["items"] if s["clientID"] == "api-test-kaz"]
    check(not kept, "the session was kept: %r" % kept)

    # A client id with control characters (MQTT allows all but U+0000) names a session an operator can end: the
    # router refused such a path segment, and the session stayed for good.
    odd = "api-test-\tkaz\x07"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=odd, clean_session=False, protocol=mqtt.MQTTv311)
    client.tls_set_context(tls_context("KAZ"))
    client.connect("127.0.0.1", ARGS.mqtt_port)
    client.loop_start()
    deadline = time.time() + 10
    while not client.is_connected() and time.time() < deadline:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    # The DISCONNECT reaches the hub after `disconnect()` returns: the session shows connected until the hub has it.
    deadline = time.time() + 10
    while True:
        held = [s for s in API.call(OP, "GET", "/sessions", expect=200).json["items"] if s["clientID"] == odd]
        if (held and not held[0]["connected"]) or time.time() > deadline:
            break
        time.sleep(0.05)
    check(held and not held[0]["connected"], "the session of %r: %r" % (odd, held))
    API.call(OP, "DELETE", "/sessions/{clientID}", params={"clientID": odd}, expect=204)
    kept = [s for s in API.call(OP, "GET", "/sessions", expect=200).json["items"] if s["clientID"] == odd]
    check(not kept, "the session of %r was kept: %r" % (odd, kept))


def audit():
    first = API.call(OP, "GET", "/audit", query={"limit": 5}, expect=200).json
    seqs = [e["seq"] for e in first["items"]]
    check(seqs == sorted(seqs, reverse=True) and len(seqs) == 5 and first["next"], "audit page: %r" % seqs)
    second = API.call(OP, "GET", "/audit", query=dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(first["next"]).query)),
                      expect=200).json
    check(second["items"][0]["seq"] == seqs[-1] - 1, "the next audit page does not follow")
    check(any(e["actor"] == "contingent:KAZ" for e in first["items"] + second["items"]), "API writes are not audited")
    API.call("KAZ", "GET", "/audit", expect=403)
    verified = API.call(OP, "GET", "/audit/verify", expect=200).json
    check(verified["intact"] and verified["entries"] > 100, "verify: %r" % verified)
    API.call("KAZ", "GET", "/audit/verify", expect=403)


def protocol_errors():
    missing = API.raw("KAZ", "GET", "/nothing")
    check(missing.status == 404 and missing.code == "not_found", "404: %r" % missing.body)
    validate({"$ref": "#/components/schemas/Error"}, missing.json, "404 body")
    wrong = API.raw("KAZ", "PUT", "/persons")
    check(wrong.status == 405 and "GET" in wrong.headers.get("allow", ""), "405: %r" % wrong.headers)
    validate({"$ref": "#/components/schemas/Error"}, wrong.json, "405 body")
    # Declared larger than admin.maximumBodySize (1 MiB): refused from the head, before any body is read.
    connection = http.client.HTTPSConnection("127.0.0.1", ARGS.admin_port, context=tls_context("KAZ"), timeout=10)
    connection.putrequest("POST", "/persons")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(2 << 20))
    connection.endheaders()
    answer = connection.getresponse()
    too_big = Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
    connection.close()
    check(too_big.status == 413 and too_big.code == "payload_too_large", "413: %d %r" % (too_big.status, too_big.body))
    check(too_big.headers.get("connection") == "close", "413 keeps the connection")
    validate({"$ref": "#/components/schemas/Error"}, too_big.json, "413 body")
    check("413" in operation("POST", "/persons")["responses"], "413 is not documented for POST /persons")


def monitoring():
    connection = http.client.HTTPConnection("127.0.0.1", ARGS.monitoring_port, timeout=10)
    for template in ("/health", "/ready"):
        connection.request("GET", template)
        answer = connection.getresponse()
        body = json.loads(answer.read())
        op = operation("GET", template)
        check(str(answer.status) in op["responses"], "%s: %d" % (template, answer.status))
        validate(op["responses"][str(answer.status)]["content"]["application/json"]["schema"], body, template)
        SEEN.setdefault(("GET", template), set()).add(("public", answer.status))
    connection.request("GET", "/metrics")
    answer = connection.getresponse()
    text = answer.read().decode()
    check(answer.status == 200 and answer.getheader("content-type").startswith("text/plain; version=0.0.4"),
          "metrics content type: %s" % answer.getheader("content-type"))
    families = {family.name: family for family in text_string_to_metric_families(text)}
    check("peacehub_http_requests" in families, "no request counter in /metrics")
    SEEN.setdefault(("GET", "/metrics"), set()).add(("public", 200))


def without_certificate():
    """Every operation: a connection without a client certificate fails the TLS handshake."""
    for template, item in SPEC["paths"].items():
        for method in [m for m in item if m in METHODS]:
            if "monitoring" in item[method].get("tags", []):
                continue
            path = template.replace("{", "x").replace("}", "")
            connection = http.client.HTTPSConnection("127.0.0.1", ARGS.admin_port, context=tls_context(None), timeout=10)
            try:
                connection.request(method.upper(), path, body="{}" if method != "get" else None)
                answer = connection.getresponse()
                fail("%s %s without a client certificate was answered %d" % (method.upper(), template, answer.status))
            except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError):
                pass
            finally:
                connection.close()


def coverage():
    documented = set()
    for template, item in SPEC["paths"].items():
        for method in [m for m in item if m in METHODS]:
            key = (method.upper(), template)
            documented.add(key)
            outcomes = SEEN.get(key, set())
            check(any(200 <= status < 300 for _, status in outcomes), "%s %s never succeeded" % key)
            access = item[method].get("x-access")
            check(access in ("any", "rules", "operator", "public"), "%s %s: x-access %r" % (key + (access,)))
            if access in ("rules", "operator"):
                check(("contingent", 403) in outcomes, "%s %s was never refused to a contingent" % key)
            if access == "operator":
                check(not any(kind == "contingent" and 200 <= status < 300 for kind, status in outcomes),
                      "%s %s succeeded for a contingent" % key)
    if ARGS.routes:
        with open(ARGS.routes) as handle:
            routes = json.load(handle)
        served = {tuple(route.split(" ", 1)) for route in routes["admin"] + routes["monitoring"]}
        check(served == documented, "served but not documented: %s; documented but not served: %s" % (
            sorted(served - documented), sorted(documented - served)))
    print("operations: %d, calls checked: %d" % (len(documented), sum(len(v) for v in SEEN.values())))


def scrape():
    """The metric families of /metrics by name, and its text."""
    connection = http.client.HTTPConnection("127.0.0.1", ARGS.monitoring_port, timeout=10)
    connection.request("GET", "/metrics")
    answer = connection.getresponse()
    check(answer.status == 200, "metrics: %d" % answer.status)
    check(answer.getheader("content-type") == "text/plain; version=0.0.4; charset=utf-8",
          "content type %s" % answer.getheader("content-type"))
    text = answer.read().decode()
    connection.close()
    return {family.name: family for family in text_string_to_metric_families(text)}, text


def metrics():
    """/metrics is valid Prometheus text and its counters (HTTP, MQTT, module verdicts) move with traffic."""
    def requests_to_me(families):
        family = families.get("peacehub_http_requests")
        if family is None:
            return 0
        check(family.type == "counter", "peacehub_http_requests_total is a %s" % family.type)
        return sum(sample.value for sample in family.samples if sample.name == "peacehub_http_requests_total"
                   and sample.labels == {"listener": "admin", "route": "GET /me", "status": "200"})

    before, _ = scrape()
    # The counters alerts watch exist from the start (at 0 until something happens), so that increase() sees the
    # first event.
    watched = [("peacehub_tls_handshake_failures_total", {"reason": "crl_expired"}),
               ("peacehub_module_verdicts_total", {"mission": "UNIFIL", "verdict": "held", "reason": "timeout"}),
               ("peacehub_mqtt_queue_full_total", {}), ("peacehub_mqtt_publishes_refused_total", {})]
    for name, labels in watched:
        family = before.get(name[:-len("_total")])
        check(family is not None and any(s.name == name and s.labels == labels for s in family.samples),
              "no %s%r before anything happened" % (name, labels))
    for _ in range(3):
        API.call("KAZ", "GET", "/me", expect=200)
    after, text = scrape()
    check(requests_to_me(after) == requests_to_me(before) + 3, "the request counter did not move by 3: %s -> %s" % (
        requests_to_me(before), requests_to_me(after)))
    durations = after.get("peacehub_http_request_duration_seconds")
    check(durations is not None and durations.type == "histogram", "no request duration histogram")
    buckets = [s for s in durations.samples if s.name.endswith("_bucket") and s.labels.get("route") == "GET /me"]
    check(buckets and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value >= 3, "duration buckets: %r" % buckets)
    # The broker's and the mission router's counters move with MQTT traffic; the connection gauge follows the
    # connections (the broker records its gauges every half second).
    def sample(families, family, name, labels):
        found = families.get(family)
        return sum(s.value for s in found.samples if s.name == name and s.labels == labels) if found else 0

    received = ("peacehub_mqtt_messages_received", "peacehub_mqtt_messages_received_total",
                {"mission": "UNIFIL", "qos": "1"})
    verdicts = ("peacehub_module_verdicts", "peacehub_module_verdicts_total",
                {"mission": "UNIFIL", "verdict": "accepted", "reason": "none"})
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="api-" + uuid.uuid4().hex[:10],
                          protocol=mqtt.MQTTv5)
    watcher.tls_set_context(tls_context("IND"))
    subscribed = queue.Queue()
    watcher.on_subscribe = lambda client, userdata, mid, codes, properties: subscribed.put(codes)
    watcher.connect("127.0.0.1", ARGS.mqtt_port)
    watcher.loop_start()
    watcher.subscribe("missions/UNIFIL/reports/+", qos=1)
    check(not subscribed.get(timeout=10)[0].is_failure, "IND may read UNIFIL's reports")
    body = {"location": {"lat": 33.2, "lon": 35.4}, "occurredAt": "2026-11-20T08:00:00Z",
            "narrative": "metrics", "uxoType": "CLUSTER_MUNITION", "marked": True, "eodTasked": False}
    for _ in range(2):
        publish_report("KAZ", "UNIFIL", "UXO", body)
    deadline = time.time() + 10
    while True:
        later, text = scrape()
        connected = sample(later, "peacehub_mqtt_connections", "peacehub_mqtt_connections", {"principal": "contingent:IND"})
        moved = (sample(later, *received) >= sample(after, *received) + 2
                 and sample(later, *verdicts) >= sample(after, *verdicts) + 2)
        if (moved and connected >= 1) or time.time() > deadline:
            break
        time.sleep(0.2)
    watcher.disconnect()
    watcher.loop_stop()
    check(sample(later, *received) >= sample(after, *received) + 2,
          "MQTT messages received did not move by 2: %r" % sample(later, *received))
    check(sample(later, *verdicts) >= sample(after, *verdicts) + 2,
          "module verdicts did not move by 2: %r" % sample(later, *verdicts))
    check(connected >= 1, "peacehub_mqtt_connections{principal=contingent:IND} is %r while IND is connected" % connected)
    for family in ["peacehub_mqtt_messages_sent", "peacehub_module_call_duration_seconds",
                   "peacehub_store_commit_duration_seconds", "peacehub_mqtt_queued_messages",
                   "peacehub_tls_certificate_expiry_timestamp_seconds"]:
        check(family in later, "no %s in /metrics" % family)
    # Each of the hub's own families says what it counts (a module's, named by the module, may not).
    undocumented = sorted(name for name, family in later.items()
                          if not name.startswith("peacehub_module_fixture") and not family.documentation)
    check(not undocumented, "families without a HELP line: %s" % undocumented)
    print("metric families: %d" % len(later))


def ready():
    """--expect ready, or not_ready:<check>[,<check>...] (503 naming those checks)."""
    connection = http.client.HTTPConnection("127.0.0.1", ARGS.monitoring_port, timeout=10)
    # The registry is read whole beside the start: ready once that is done.
    deadline = time.time() + 10
    while True:
        connection.request("GET", "/ready")
        answer = connection.getresponse()
        body = json.loads(answer.read())
        if ARGS.expect != "ready" or answer.status == 200 or time.time() > deadline:
            break
        time.sleep(0.05)
    validate(operation("GET", "/ready")["responses"]["200"]["content"]["application/json"]["schema"], body, "/ready")
    if ARGS.expect == "ready":
        check(answer.status == 200 and body["status"] == "ready", "not ready: %r" % body)
        names = [c["name"] for c in body["checks"]]
        check(names == ["store", "registry", "tls", "mqtt", "modules"], "checks: %r" % body)
    else:
        failing = ARGS.expect.split(":", 1)[1].split(",")
        check(answer.status == 503 and body["failing"] == failing, "expected %s failing: %d %r" % (
            failing, answer.status, body))
    connection.request("GET", "/health")
    answer = connection.getresponse()
    check(answer.status == 200 and json.loads(answer.read()) == {"status": "alive"}, "health")


def revocation():
    """Revoking a certificate closes its open HTTPS connection to the admin listener and refuses new ones."""
    def peacehub(*arguments):
        environment = dict(os.environ, PEACEHUB_DATA_DIR=ARGS.data)
        return subprocess.run([ARGS.peacehub, *arguments], env=environment, capture_output=True, text=True,
                              timeout=120)

    device = "api-%s" % uuid.uuid4().hex[:6]
    issued = peacehub("pki", "issue", "--contingent", "UZB", "--device", device, "--days", "1")
    check(issued.returncode == 0, issued.stderr)
    serial = re.search(r"serial ([0-9A-F]+)", issued.stdout).group(1)
    who = "UZB-" + device
    API.call(who, "GET", "/me", expect=200)
    revoked = peacehub("pki", "revoke", serial)
    check(revoked.returncode == 0, revoked.stderr)
    deadline = time.time() + 10
    closed = False
    while time.time() < deadline and not closed:
        try:
            API.raw(who, "GET", "/me")
            time.sleep(0.2)
        except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError):
            closed = True
    check(closed, "the revoked certificate's connection is still served")
    fresh = http.client.HTTPSConnection("127.0.0.1", ARGS.admin_port, context=tls_context(who), timeout=10)
    try:
        fresh.request("GET", "/me")
        fail("a new connection with the revoked certificate was answered %d" % fresh.getresponse().status)
    except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError):
        pass


def module_services():
    """The running hub lends its modules its broker and its registry, and a module's metric names cannot stop it:
    the fixture module's `services-now` calls every host service and reports what each answered, then records
    metrics under the hub's own names and a counter's name as a timer."""
    command = "/modules/{mission}/commands/{name}"
    report = API.call(OP, "POST", command, params={"mission": "FIXTURE", "name": "services-now"}, body={},
                      expect=200).json
    check(report["registryStatus"] == 0 and report["record"]["serviceNumber"] == "KAZ-100101",
          "registry_get did not reach the registry: %r" % report)
    check(report["ownPublish"] == 0, "publish did not reach the broker: %r" % report)
    check(report["foreignPublish"] == 5, "a topic outside the mission was not denied: %r" % report)
    check(report["reportPublish"] == 5, "a report topic was not denied: %r" % report)
    families, _ = scrape()
    created = families.get("peacehub_module_fixture_created")
    check(created is not None and created.type == "counter", "the module's counter: %r" % created)
    big = families.get("peacehub_module_fixture_big")
    check(big is not None and big.samples[0].value >= 2 ** 63, "a counter past INT64_MAX: %r" % big)
    duration = families.get("peacehub_module_fixture_duration")
    check(duration is None or all(s.value == 0 for s in duration.samples if s.name.endswith("_count")),
          "a negative duration was recorded: %r" % duration)
    held = families.get("peacehub_module_verdicts")
    check(held is not None and all(sample.labels.get("module") is None for sample in held.samples),
          "a module's counter went into the hub's verdicts: %r" % held)
    API.call(OP, "POST", command, params={"mission": "FIXTURE", "name": "describe"}, expect=200)


def half_close():
    """TLS 1.3 closes each direction on its own [RFC 8446 6.1]: a request followed by the client's close_notify is
    still answered, then the hub sends its own close_notify."""
    import socket
    context = tls_context("operator:duty")
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    session = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", ARGS.admin_port), timeout=10) as sock:
        def pump():
            if outgoing.pending:
                sock.sendall(outgoing.read())
            data = sock.recv(65536)
            if data:
                incoming.write(data)
            else:
                incoming.write_eof()
            return bool(data)
        while True:
            try:
                session.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump()
        session.write(b"GET /persons?limit=1 HTTP/1.1\r\nHost: hub\r\n\r\n")
        try:
            session.unwrap()
        except ssl.SSLWantReadError:
            pass
        sock.sendall(outgoing.read())
        answer, closed = b"", False
        deadline = time.time() + 10
        while not closed and time.time() < deadline:
            more = pump()
            while True:
                try:
                    chunk = session.read(65536)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    closed = True
                    break
                if not chunk:
                    closed = True
                    break
                answer += chunk
            if not more:
                break
    check(answer.startswith(b"HTTP/1.1 200"), "no answer after the request and close_notify: %r" % answer[:200])
    check(closed, "the hub did not send its close_notify after the answer")


SCENARIOS = {f.__name__: f for f in [contract, half_close, metrics, module_services, ready, revocation]}

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--admin-port", type=int, required=True)
    parser.add_argument("--monitoring-port", type=int, required=True)
    parser.add_argument("--mqtt-port", type=int, required=True)
    parser.add_argument("--pki", required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--routes")
    parser.add_argument("--expect")
    parser.add_argument("--peacehub", help="the peacehub binary (revocation)")
    parser.add_argument("--data", help="the hub's data directory (revocation)")
    ARGS = parser.parse_args()
    with open(ARGS.spec) as spec_file:
        SPEC = yaml.safe_load(spec_file)
    API = Client()
    SCENARIOS[ARGS.scenario]()
    API.close()
    print("OK " + ARGS.scenario, flush=True)
