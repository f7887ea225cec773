#!/usr/bin/env python3
"""Demo PDMP Responder: answers $pdmp-history from sekmet-fhir's data and proxies everything else to it.

sekmet-fhir (the unmodified demo upstream) has no $pdmp-history. This small server sits in front of it:

  POST {base}/$pdmp-history and POST {base}/Patient/$pdmp-history   (PDMP IG 1.0.0, http://hl7.org/fhir/us/pdmp/STU1/OperationDefinition-pdmp-history.html)
      Parameters in (pdmp-parameters-request: the patient by demographics, the authorized practitioner...)
      -> demographic match against sekmet's Patients (family + first given + full birthDate, gender and
         SSN narrow when given)
      -> Parameters out (pdmp-parameters-response) holding a pdmp-bundle-history-result Bundle:
         the matched Patients, their MedicationDispenses and MedicationAdministrations, and the referenced
         MedicationRequests, Medications, Practitioners and pharmacies (Organization), each with meta.source.
         No match or no history: an `outcome` OperationOutcome with PMIXStatusCode `no-data`, no Bundle.
  POST {base}/$process-message with a PDMP request message (MessageHeader.eventCoding.code = the
      pdmp-history OperationDefinition URL, focus -> the request Parameters; PDMP IG 1.0.0 http://hl7.org/fhir/us/pdmp/STU1/submission-options.html)
      -> a response message Bundle: MessageHeader (response.identifier = the request header's id,
         response.code ok | fatal-error, focus -> Parameters) + the response Parameters as above.
  anything else (including other $process-message calls, which sekmet handles itself)
      forwarded unchanged (method, target, headers less hop-by-hop ones, body) to the upstream over a
      per-thread keep-alive connection; the response streams back.

Bad input to the operation gets a FHIR OperationOutcome with 400 (415 for a non-JSON body).

Usage: pdmp_responder.py --port 8090 --upstream http://127.0.0.1:8091/fhir [--base-path /fhir]
                         [--public-base URL] [--source URI]
Prints `READY <port>` on stdout once listening (--port 0 picks a free port). Python stdlib only.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import sys
import threading
import time
import unicodedata
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

FHIR_JSON = "application/fhir+json; charset=utf-8"
PDMP = "http://hl7.org/fhir/us/pdmp/StructureDefinition/"
PMIX_STATUS = "http://terminology.hl7.org/CodeSystem/PMIXStatusCode"
TEMP_STATUS = "http://hl7.org/fhir/us/pdmp/CodeSystem/temporary-pdmp-response-status"
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
PDMP_EVENT = "http://hl7.org/fhir/us/pdmp/OperationDefinition/pdmp-history"  # MessageHeader.eventCoding.code
MAX_BODY = 8 * 1024 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade"}

# Input parameters of the OperationDefinition pdmp-history (PDMP IG 1.0.0): name -> (min, max, resource type or value[x]).
INPUTS = {
    "patient": (1, 1, "Patient"),
    "animal-owner": (0, 1, "RelatedPerson"),
    "authorized-practitioner": (1, 1, "Practitioner"),
    "authorized-practitioner-role": (0, 1, "PractitionerRole"),
    "authorized-practitioner-organization": (0, 1, "Organization"),
    "delegate-practitioner": (0, 1, "Practitioner"),
    "delegate-practitioner-role": (0, 1, "PractitionerRole"),
    "delegate-organization": (0, 1, "Organization"),
    "pre-stage-only": (0, 1, "valueBoolean"),
    "pre-stage-retrieval-key": (0, 1, "valueString"),
}


class BadRequest(Exception):
    def __init__(self, message: str, code: str = "invalid", status: int = 400, expression: str | None = None):
        super().__init__(message)
        self.message, self.code, self.status, self.expression = message, code, status, expression


def operation_outcome(severity: str, code: str, text: str, details: tuple[str, str, str] | None = None,
                      expression: str | None = None) -> dict:
    issue: dict = {"severity": severity, "code": code, "diagnostics": text}
    if details:
        issue["details"] = {"coding": [{"system": details[0], "code": details[1], "display": details[2]}],
                            "text": text}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def fold(s: str) -> str:
    """Case- and accent-insensitive comparison key for names."""
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).casefold().strip()


# ---------------------------------------------------------------- request parsing

def parse_request(body: bytes) -> dict:
    """Validate a pdmp-parameters-request; returns {name: resource-or-value} for the parameters present."""
    try:
        params = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"body is not valid JSON: {e}", "structure")
    if not isinstance(params, dict) or params.get("resourceType") != "Parameters":
        raise BadRequest("body must be a FHIR Parameters resource", "structure")
    plist = params.get("parameter")
    if not isinstance(plist, list) or not plist:
        raise BadRequest("Parameters.parameter is required", "required", expression="Parameters.parameter")
    found: dict[str, object] = {}
    for i, p in enumerate(plist):
        where = f"Parameters.parameter[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise BadRequest("every parameter needs a name", "structure", expression=where)
        name = p["name"]
        if name not in INPUTS:
            raise BadRequest(f"unknown parameter '{name}'", "not-supported", expression=where)
        if name in found:
            raise BadRequest(f"parameter '{name}' may appear at most once", "invalid", expression=where)
        kind = INPUTS[name][2]
        if kind.startswith("value"):
            if kind not in p:
                raise BadRequest(f"parameter '{name}' needs {kind}", "required", expression=where)
            value = p[kind]
            if (kind == "valueBoolean" and not isinstance(value, bool)) or (
                    kind == "valueString" and (not isinstance(value, str) or not value)):
                raise BadRequest(f"parameter '{name}' has an invalid {kind}", "value", expression=where)
            found[name] = value
        else:
            # The profile types these as Reference, but every IG example sends the resource inline.
            res = p.get("resource")
            if not isinstance(res, dict) or res.get("resourceType") != kind:
                raise BadRequest(f"parameter '{name}' needs an inline {kind} resource", "required", expression=where)
            found[name] = res
    if "pre-stage-retrieval-key" in found:
        return found
    for name, (low, _high, _kind) in INPUTS.items():
        if low and name not in found:
            raise BadRequest(f"parameter '{name}' is required", "required", expression="Parameters.parameter")
    return found


def demographics(patient: dict) -> dict:
    """The pdmp-patient demographics used for matching: family, first given, full birthDate (+gender, SSN)."""
    names = patient.get("name")
    if not isinstance(names, list) or not names or not isinstance(names[0], dict):
        raise BadRequest("patient.name is required", "required", expression="Patient.name")
    family, given = names[0].get("family"), names[0].get("given")
    if not isinstance(family, str) or not family.strip():
        raise BadRequest("patient.name.family is required", "required", expression="Patient.name.family")
    if not isinstance(given, list) or not given or not isinstance(given[0], str) or not given[0].strip():
        raise BadRequest("patient.name.given is required", "required", expression="Patient.name.given")
    birth = patient.get("birthDate")
    # pdmp-full-birthdate invariant: a full date (10 characters).
    if not isinstance(birth, str) or len(birth) != 10 or not _is_date(birth):
        raise BadRequest("patient.birthDate must be a full date (YYYY-MM-DD)", "value", expression="Patient.birthDate")
    gender = patient.get("gender")
    if gender is not None and gender not in ("male", "female", "other", "unknown"):
        raise BadRequest("patient.gender is not a valid code", "value", expression="Patient.gender")
    ssn = None
    for ident in patient.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == SSN_SYSTEM and isinstance(ident.get("value"), str):
            ssn = ident["value"].replace("-", "")
    return {"family": family.strip(), "given": given[0].strip(), "birthDate": birth, "gender": gender, "ssn": ssn}


def _is_date(s: str) -> bool:
    try:
        datetime.strptime(s, "%Y-%m-%d")
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- upstream access

class Upstream:
    """A FHIR base URL reached over one keep-alive connection per thread."""

    def __init__(self, base_url: str, timeout: float = 30):
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported upstream URL {base_url!r}")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path  # e.g. /fhir
        self.timeout = timeout
        self.local = threading.local()

    def connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        # uvicorn closes idle keep-alive connections after 5 s: do not reuse one idle for longer.
        if conn is not None and (fresh or time.monotonic() - getattr(self.local, "used", 0) > 4):
            conn.close()
            conn = None
        if conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            self.local.conn = conn
        return conn

    def mark_used(self) -> None:
        self.local.used = time.monotonic()

    def drop(self) -> None:
        """Discard this thread's connection (after an error or a response that ends it)."""
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
        self.local.conn = None

    def request(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None,
                idempotent: bool) -> http.client.HTTPResponse:
        """Send a request; retries once on a stale reused connection when that cannot double a write."""
        for attempt in (0, 1):
            conn = self.connection(fresh=attempt == 1)
            reused = getattr(conn, "sock", None) is not None
            sent = False
            try:
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    conn.putheader(k, v)
                conn.endheaders(body)
                sent = True
                return conn.getresponse()
            except (OSError, http.client.HTTPException):
                self.drop()
                # The server closed a reused idle connection: nothing was processed if the send failed, and
                # for idempotent requests a repeat is harmless either way. Retry once in those cases only.
                if attempt == 0 and reused and (idempotent or not sent):
                    continue
                raise
        raise AssertionError("unreachable")

    def get_json(self, path_and_query: str) -> dict:
        host = f"{self.host}:{self.port}"
        resp = self.request("GET", self.path + path_and_query,
                            [("Host", host), ("Accept", "application/fhir+json")], None, True)
        data = resp.read()
        if resp.will_close:
            self.drop()
        else:
            self.mark_used()
        if resp.status != 200:
            raise RuntimeError(f"upstream GET {path_and_query} -> {resp.status}: {data[:300]!r}")
        return json.loads(data)

    def search_all(self, path_and_query: str, limit: int = 10_000) -> list[dict]:
        """All entries of a search, following `next` links (sekmet writes its own base into them)."""
        entries: list[dict] = []
        bundle = self.get_json(path_and_query)
        while True:
            entries.extend(bundle.get("entry", []))
            nxt = next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)
            if not nxt or len(entries) >= limit:
                return entries
            parts = urlsplit(nxt)
            rel = parts.path[len(self.path):] if parts.path.startswith(self.path) else parts.path
            bundle = self.get_json(rel + ("?" + parts.query if parts.query else ""))


# ---------------------------------------------------------------- the operation

class Responder:
    def __init__(self, upstream: Upstream, public_base: str, source: str):
        self.upstream = upstream
        self.public_base = public_base.rstrip("/")
        self.source = source
        self.prestaged: dict[str, dict] = {}  # retrieval key -> demographics (in memory; demo only)
        self.lock = threading.Lock()

    def match_patients(self, demo: dict) -> list[dict]:
        q = f"/Patient?family={quote(demo['family'])}&birthdate={quote(demo['birthDate'])}&_count=1000"
        out = []
        for e in self.upstream.search_all(q):
            p = e.get("resource") or {}
            if p.get("resourceType") != "Patient":
                continue
            if p.get("birthDate") != demo["birthDate"]:
                continue
            if demo["gender"] and p.get("gender") not in (demo["gender"], None):
                continue
            if not any(fold(n.get("family", "")) == fold(demo["family"]) and n.get("given")
                       and fold(n["given"][0]) == fold(demo["given"]) for n in p.get("name") or []):
                continue
            out.append(p)
        if demo["ssn"] and len(out) > 1:  # an SSN resolves a tie between people with the same demographics
            same = [p for p in out if any(i.get("system") == SSN_SYSTEM and i.get("value", "").replace("-", "")
                                          == demo["ssn"] for i in p.get("identifier") or [])]
            if same:
                out = same
        return sorted(out, key=lambda p: p["id"])

    def history(self, patient_ids: list[str]) -> tuple[list[dict], int]:
        """Resources for the history Bundle and the number of clinical (dispense/administration) entries."""
        resources: dict[tuple[str, str], dict] = {}
        clinical = 0
        for pid in patient_ids:
            pid_q = quote(pid)
            queries = [
                f"/MedicationDispense?patient={pid_q}&_count=1000&_sort=-whenhandedover"
                "&_include=MedicationDispense:performer&_include=MedicationDispense:prescription"
                "&_include:iterate=MedicationRequest:requester&_include:iterate=MedicationRequest:medication",
                f"/MedicationAdministration?patient={pid_q}&_count=1000"
                "&_include=MedicationAdministration:request&_include=MedicationAdministration:performer"
                "&_include:iterate=MedicationRequest:requester&_include:iterate=MedicationRequest:medication",
            ]
            for q in queries:
                for e in self.upstream.search_all(q):
                    r = e.get("resource") or {}
                    if r.get("resourceType") == "OperationOutcome":
                        continue
                    if r.get("resourceType") in ("MedicationDispense", "MedicationAdministration"):
                        clinical += 1
                    resources[(r["resourceType"], r["id"])] = r
        return list(resources.values()), clinical

    def bundle(self, patients: list[dict], resources: list[dict]) -> dict:
        order = {"Patient": 0, "MedicationDispense": 1, "MedicationAdministration": 2, "MedicationRequest": 3,
                 "Medication": 4, "Practitioner": 5, "PractitionerRole": 6, "Organization": 7}
        items = patients + sorted(resources, key=lambda r: (order.get(r["resourceType"], 9), r["id"]))
        entries = []
        for r in items:
            r = dict(r)
            meta = dict(r.get("meta") or {})
            meta.setdefault("source", self.source)  # PDMP IG §4.3: every resource names its data source
            r["meta"] = meta
            entries.append({"fullUrl": f"{self.public_base}/{r['resourceType']}/{r['id']}", "resource": r})
        return {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                "meta": {"profile": [PDMP + "pdmp-bundle-history-result"]},
                "type": "collection",
                "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "entry": entries}

    def handle_message(self, message: dict) -> tuple[int, dict]:
        """$process-message with a PDMP request message (PDMP IG 1.0.0 messaging option, http://hl7.org/fhir/us/pdmp/STU1/submission-options.html) -> a PDMP response message."""
        entries = message.get("entry")
        if not isinstance(entries, list) or len(entries) < 2:
            raise BadRequest("a PDMP request message holds a MessageHeader and the request Parameters", "required")
        header = entries[0].get("resource") if isinstance(entries[0], dict) else None
        if not isinstance(header, dict) or header.get("resourceType") != "MessageHeader":
            raise BadRequest("the first entry of a message must be its MessageHeader", "structure")
        focus = header.get("focus")
        ref = focus[0].get("reference") if isinstance(focus, list) and focus and isinstance(focus[0], dict) else None
        params = None
        for e in entries[1:]:
            res = e.get("resource") if isinstance(e, dict) else None
            names = (e.get("fullUrl"), f"{res.get('resourceType')}/{res.get('id')}") if isinstance(res, dict) else ()
            if ref and ref in names and res.get("resourceType") == "Parameters":
                params = res
        if params is None:
            raise BadRequest("MessageHeader.focus must reference the request Parameters entry", "required")
        try:
            status, result = self.handle(json.dumps(params).encode())
            code = "ok"
        except BadRequest as e:
            # A rejected request is still answered with a response message whose outcome says why.
            status, code = 200, "fatal-error"
            result = {"resourceType": "Parameters", "meta": {"profile": [PDMP + "pdmp-parameters-response"]},
                      "parameter": [{"name": "outcome", "resource": operation_outcome(
                          "error", e.code, e.message, (PMIX_STATUS, "error", "Error"), e.expression)}]}
        result = {**result, "id": str(uuid.uuid4())}
        reply_header = {
            "resourceType": "MessageHeader", "id": str(uuid.uuid4()),
            "meta": {"profile": [PDMP + "pdmp-messageheader-response"]},
            "eventCoding": {"system": "urn:ietf:rfc:3986", "code": PDMP_EVENT},
            "source": {"endpoint": self.public_base},
            "response": {"identifier": str(header.get("id") or ""), "code": code},
            "focus": [{"reference": f"Parameters/{result['id']}"}],
        }
        if isinstance(header.get("source"), dict) and header["source"].get("endpoint"):
            reply_header["destination"] = [{"endpoint": header["source"]["endpoint"]}]
        bundle = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                  "meta": {"profile": [PDMP + "pdmp-bundle-response-message"]}, "type": "message",
                  "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
                  "entry": [{"fullUrl": f"{self.public_base}/MessageHeader/{reply_header['id']}",
                             "resource": reply_header},
                            {"fullUrl": f"{self.public_base}/Parameters/{result['id']}", "resource": result}]}
        return status, bundle

    def handle(self, body: bytes) -> tuple[int, dict]:
        found = parse_request(body)
        response = {"resourceType": "Parameters", "meta": {"profile": [PDMP + "pdmp-parameters-response"]},
                    "parameter": []}
        key = found.get("pre-stage-retrieval-key")
        if key is not None:
            with self.lock:
                demo = self.prestaged.pop(key, None)
            if demo is None:
                raise BadRequest("unknown or already used pre-stage-retrieval-key", "not-found",
                                 expression="Parameters.parameter")
        else:
            demo = demographics(found["patient"])
            if found.get("pre-stage-only") is True:
                key = hashlib.sha256(uuid.uuid4().bytes).hexdigest()[:32]
                with self.lock:
                    self.prestaged[key] = demo
                response["parameter"] = [
                    {"name": "pre-stage-retrieval-key", "valueString": key},
                    {"name": "outcome", "resource": operation_outcome(
                        "information", "informational", "request accepted for pre-staging",
                        (TEMP_STATUS, "pre-stage-accepted", "Pre-stage accepted"))}]
                return 200, response
        patients = self.match_patients(demo)
        resources, clinical = self.history([p["id"] for p in patients]) if patients else ([], 0)
        if not patients or clinical == 0:
            # PDMP IG §4.3: with no history the Bundle SHALL NOT be created; say so in `outcome`.
            response["parameter"] = [{"name": "outcome", "resource": operation_outcome(
                "information", "not-found", "no prescription history found for the patient",
                (PMIX_STATUS, "no-data", "No Data"))}]
            return 200, response
        response["parameter"].append({"name": "pdmp-history-data", "resource": self.bundle(patients, resources)})
        if len(patients) > 1:
            response["parameter"].append({"name": "outcome", "resource": operation_outcome(
                "warning", "multiple-matches",
                f"{len(patients)} patients match the demographics; the history names each of them")})
        return 200, response


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length or chunked framing
    disable_nagle_algorithm = True  # head and body go out in separate writes: no 40 ms delayed-ACK stalls
    server_version = "pdmp-demo-responder"

    def version_string(self) -> str:
        return self.server_version

    # ---- plumbing

    def log_message(self, fmt, *args):  # one line per request on stderr
        sys.stderr.write(f"{self.log_date_time_string()} {self.address_string()} {fmt % args}\n")

    def send_json(self, status: int, body: dict, extra: list[tuple[str, str]] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", FHIR_JSON)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra or []:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def read_body(self) -> bytes | None:
        te = self.headers.get_all("Transfer-Encoding") or []
        cl = self.headers.get_all("Content-Length") or []
        if te and cl:
            raise BadRequest("both Transfer-Encoding and Content-Length", "structure")
        if te:
            if [t.strip().lower() for t in ",".join(te).split(",")] != ["chunked"]:
                raise BadRequest("unsupported Transfer-Encoding", "not-supported", status=501)
            return self.read_chunked()
        if len(cl) > 1 or (cl and not cl[0].strip().isdigit()):
            raise BadRequest("invalid Content-Length", "structure")
        n = int(cl[0]) if cl else 0
        if n > MAX_BODY:
            raise BadRequest("request body too large", "too-long", status=413)
        return self.rfile.read(n) if n else (b"" if cl else None)

    def read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size_s = line.split(b";", 1)[0].strip()
            try:
                size = int(size_s, 16)
            except ValueError:
                raise BadRequest("malformed chunk size", "structure")
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are dropped
                return bytes(out)
            if len(out) + size > MAX_BODY:
                raise BadRequest("request body too large", "too-long", status=413)
            out += self.rfile.read(size)
            self.rfile.readline(16)

    def is_operation(self) -> bool:
        path = unquote(urlsplit(self.path).path)  # %24pdmp-history is the same operation
        base = self.server.base_path
        return path in (f"{base}/$pdmp-history", f"{base}/Patient/$pdmp-history")

    def pdmp_message(self, body: bytes | None) -> dict | None:
        """The body, if this is `$process-message` carrying a PDMP request message; sekmet gets the rest."""
        if self.command != "POST" or unquote(urlsplit(self.path).path) != f"{self.server.base_path}/$process-message":
            return None
        try:
            msg = json.loads(body or b"")
            event = msg["entry"][0]["resource"]["eventCoding"]["code"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        return msg if msg.get("type") == "message" and event == PDMP_EVENT else None

    # ---- dispatch

    def handle_any(self) -> None:
        try:
            body = self.read_body()
        except BadRequest as e:
            self.close_connection = True
            self.send_json(e.status, operation_outcome("error", e.code, e.message))
            return
        try:
            if self.is_operation():
                self.operation(body)
            elif (message := self.pdmp_message(body)) is not None:
                self.message(message)
            else:
                self.forward(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-response: nothing to answer
            self.log_message("client closed the connection during %s", self.requestline)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

    def operation(self, body: bytes | None) -> None:
        extra = []
        rid = self.headers.get("X-Request-ID")
        if rid and len(rid) <= 200 and rid.isprintable():
            extra.append(("X-Request-ID", rid))  # PDMP IG capability-statements: MAY support X-Request-ID
        if self.command != "POST":
            self.send_json(405, operation_outcome("error", "not-supported", "$pdmp-history is invoked with POST"),
                           [("Allow", "POST"), *extra])
            return
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in ("application/fhir+json", "application/json"):
            self.send_json(415, operation_outcome("error", "not-supported",
                                                  "send the Parameters as application/fhir+json"), extra)
            return
        try:
            status, result = self.server.responder.handle(body or b"")
        except BadRequest as e:
            self.send_json(e.status, operation_outcome("error", e.code, e.message, expression=e.expression), extra)
            return
        except (OSError, http.client.HTTPException, RuntimeError, ValueError) as e:
            self.log_message("upstream failure: %s", e)
            self.send_json(502, operation_outcome("error", "exception", "the data source is unavailable"), extra)
            return
        self.send_json(status, result, extra)

    def message(self, message: dict) -> None:
        try:
            status, result = self.server.responder.handle_message(message)
        except BadRequest as e:
            self.send_json(e.status, operation_outcome("error", e.code, e.message, expression=e.expression))
            return
        except (OSError, http.client.HTTPException, RuntimeError, ValueError) as e:
            self.log_message("upstream failure: %s", e)
            self.send_json(502, operation_outcome("error", "exception", "the data source is unavailable"))
            return
        self.send_json(status, result)

    def forward(self, body: bytes | None) -> None:
        up: Upstream = self.server.upstream
        headers = [("Host", f"{up.host}:{up.port}")]
        named = {h.strip().lower() for h in ",".join(self.headers.get_all("Connection") or []).split(",")}
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in named or lk in ("host", "content-length", "expect"):
                continue
            headers.append((k, v))
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        if not self.path.startswith("/"):
            self.send_json(400, operation_outcome("error", "invalid", "request target must be origin-form"))
            return
        target = self.path
        idempotent = self.command in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        try:
            resp = up.request(self.command, target, headers, body, idempotent)
        except (OSError, http.client.HTTPException) as e:
            self.log_message("upstream failure: %s", e)
            self.send_json(502, operation_outcome("error", "exception", "upstream unavailable"))
            return
        try:
            self.relay(resp)
        except BaseException:
            up.drop()  # the response was not read to its end: the connection cannot be reused
            self.close_connection = True
            raise
        if resp.will_close:
            up.drop()
        else:
            up.mark_used()

    def relay(self, resp: http.client.HTTPResponse) -> None:
        self.log_request(resp.status)
        self.send_response_only(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        named = {h.strip().lower() for h in ",".join(resp.headers.get_all("Connection") or []).split(",")}
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in named:
                continue
            self.send_header(k, v)
        chunked = not no_body and length is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if no_body:
            resp.read()
            return
        while True:
            block = resp.read1(65536)
            if not block:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
        resp.read()  # read1 never marks a fully read response closed; read() does, so the connection is reusable
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, upstream: Upstream, responder: Responder, base_path: str):
        super().__init__(addr, Handler)
        self.upstream, self.responder, self.base_path = upstream, responder, base_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Demo PDMP $pdmp-history responder in front of sekmet-fhir")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--upstream", default="http://127.0.0.1:8091/fhir", help="sekmet-fhir FHIR base URL")
    ap.add_argument("--base-path", default="/fhir", help="FHIR base path this server answers the operation on")
    ap.add_argument("--public-base", help="base URL written into the history Bundle's fullUrls "
                                          "(default http://HOST:PORT/BASE-PATH)")
    ap.add_argument("--source", default="urn:demo:ma-pdmp", help="meta.source for returned resources")
    args = ap.parse_args(argv)
    base_path = "/" + args.base_path.strip("/") if args.base_path.strip("/") else ""
    upstream = Upstream(args.upstream)
    server = Server((args.host, args.port), upstream, Responder(upstream, "", args.source), base_path)
    port = server.server_address[1]
    server.responder.public_base = (args.public_base or f"http://{args.host}:{port}{base_path}").rstrip("/")
    print(f"READY {port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _terminate(_signum, _frame):
    raise KeyboardInterrupt  # SIGTERM stops serve_forever like Ctrl-C


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
