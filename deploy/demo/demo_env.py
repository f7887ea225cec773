"""Shared set-up of the demo environment (run-demo and journey --self-contained), Python stdlib only.

Layout of the demo directory (fixed, so that scripts and docs can rely on it; `.demo/` for `make run`):
  ca.pem, ca.key                   development CA (openssl), trusted by the demo's clients
  server.pem, server.key           the gateway's TLS certificate (SAN localhost, 127.0.0.1)
  gateway.yaml, clients.yaml       configuration and requester registry (registered through the CLI)
  keys/                            the gateway's token-signing key (`pdmp-gateway keys generate`)
  audit/                           hash-chained AuditEvent files
  requesters/<id>.pem, <id>.json   each demo requester's private key and description
  upstream/                        sekmet-fhir + $pdmp-history responder data (deploy/demo/start-upstream)

Every step is idempotent: what exists and is still valid is kept.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# Scopes registered for both demo requesters: what a PDMP query needs (Patient and MedicationDispense
# search for $pdmp-history), the prescription types, and the types `_include` brings back.
DEMO_SCOPES = ("system/Patient.rs system/MedicationDispense.rs system/MedicationRequest.rs "
               "system/MedicationAdministration.rs system/Practitioner.rs system/Organization.rs "
               "system/Medication.rs")


@dataclass
class Ports:
    gateway: int = 8443
    admin: int = 9090
    responder: int = 8090
    sekmet: int = 8091


@dataclass
class Demo:
    """Paths and URLs of one demo directory."""
    dir: Path
    gateway_bin: Path
    ports: Ports = field(default_factory=Ports)
    patients: int = 1000

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.ports.gateway}"

    @property
    def fhir(self) -> str:
        return self.base + "/fhir"

    @property
    def token_url(self) -> str:
        return self.base + "/auth/token"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.ports.admin}"

    @property
    def config(self) -> Path:
        return self.dir / "gateway.yaml"

    @property
    def upstream_dir(self) -> Path:
        return self.dir / "upstream"

    def cli(self, *args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
        """Runs `pdmp-gateway ARGS` (with --config where the command takes one)."""
        cmd = [str(self.gateway_bin), *args]
        proc = subprocess.run(cmd, capture_output=capture, text=True)
        if check and proc.returncode != 0:
            raise SystemExit(f"demo: `{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc


def log(msg: str) -> None:
    print(f"demo: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"demo: `{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


# MARK: - ports

def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports() -> Ports:
    """Four distinct ports that were free a moment ago (the kernel's choice)."""
    socks = []
    try:
        for _ in range(4):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        numbers = [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
    return Ports(gateway=numbers[0], admin=numbers[1], responder=numbers[2], sekmet=numbers[3])


def pid_alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def check_ports(demo: Demo) -> None:
    """Fails with a clear message when a port the demo needs is taken by someone else. The upstream's
    ports are fine when our own pid files say our upstream holds them (start-upstream reuses it)."""
    ours = {
        demo.ports.responder: demo.upstream_dir / "responder.pid",
        demo.ports.sekmet: demo.upstream_dir / "sekmet.pid",
    }
    what = {demo.ports.gateway: "gateway (HTTPS)", demo.ports.admin: "admin", demo.ports.responder:
            "demo upstream ($pdmp-history responder)", demo.ports.sekmet: "demo upstream (sekmet-fhir)"}
    taken = []
    for port, name in what.items():
        if port in ours and pid_alive(ours[port]):
            continue
        if port_in_use(port):
            taken.append(f"  127.0.0.1:{port} ({name}) is already in use")
    if taken:
        raise SystemExit("demo: cannot start, ports are taken:\n" + "\n".join(taken) +
                         "\nStop what listens there (e.g. `ss -ltnp | grep :PORT`) or a previous demo "
                         "(Ctrl-C in its terminal), then try again.")


# MARK: - certificates and keys

def ensure_ca_and_server_cert(demo: Demo) -> None:
    """A development CA and a server certificate for localhost/127.0.0.1 signed by it (openssl)."""
    d = demo.dir
    ca_key, ca_pem = d / "ca.key", d / "ca.pem"
    key, pem = d / "server.key", d / "server.pem"
    if not (ca_key.exists() and ca_pem.exists()):
        log("creating a development CA (ca.pem)")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(ca_key), "-out", str(ca_pem), "-days", "825", "-subj", "/CN=pdmp-gateway demo CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        ca_key.chmod(0o600)
        pem.unlink(missing_ok=True)
    valid = pem.exists() and key.exists() and subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca_pem), str(pem)], capture_output=True).returncode == 0 \
        and subprocess.run(["openssl", "x509", "-checkend", "86400", "-noout", "-in", str(pem)],
                           capture_output=True).returncode == 0
    if valid:
        return
    log("creating the gateway's server certificate (server.pem, SAN localhost, 127.0.0.1)")
    csr = d / "server.csr"
    ext = d / "server.ext"
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost"])
    key.chmod(0o600)
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key),
         "-CAcreateserial", "-out", str(pem), "-days", "397", "-sha256", "-extfile", str(ext)])
    csr.unlink(missing_ok=True)
    ext.unlink(missing_ok=True)


def ensure_signing_key(demo: Demo) -> None:
    keys = demo.dir / "keys"
    if keys.is_dir() and any(keys.glob("*.pem")):
        return
    log("generating the gateway's token-signing key (keys/)")
    demo.cli("keys", "generate", "--alg", "ES256", "--out", str(keys))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_public_numbers(pem: Path) -> dict:
    """The public JWK members of a private key PEM, read with `openssl pkey -text` (RFC 7518 §6)."""
    text = run(["openssl", "pkey", "-in", str(pem), "-noout", "-text_pub"]).stdout

    def hexblock(label: str) -> bytes:
        lines = text.split("\n")
        start = next(i for i, line in enumerate(lines) if line.strip().startswith(label))
        out = []
        for line in lines[start + 1:]:
            if not line.startswith("    "):
                break
            out.append(line.strip().replace(":", ""))
        return bytes.fromhex("".join(out))

    if "ASN1 OID" in text or "NIST CURVE" in text:
        point = hexblock("pub:")
        crv = "P-384" if "P-384" in text or "secp384r1" in text else "P-256"
        size = 48 if crv == "P-384" else 32
        assert point[0] == 4 and len(point) == 1 + 2 * size, "uncompressed EC point expected"
        return {"crv": crv, "kty": "EC", "x": b64url(point[1:1 + size]), "y": b64url(point[1 + size:])}
    modulus = hexblock("Modulus:").lstrip(b"\x00")
    exp_line = next(line for line in text.split("\n") if line.startswith("Exponent:"))
    e = int(exp_line.split()[1])
    return {"e": b64url(e.to_bytes((e.bit_length() + 7) // 8, "big")), "kty": "RSA", "n": b64url(modulus)}


def jwk_thumbprint(pem: Path) -> str:
    """RFC 7638 SHA-256 thumbprint of the key's public JWK (required members, sorted, no whitespace):
    the `kid` smart-fetch puts in its assertions, so the demo registers keys under it."""
    members = der_public_numbers(pem)
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return b64url(hashlib.sha256(canonical).digest())


# MARK: - requesters

def requester_specs(index: dict) -> list[dict]:
    """The two demo requesters, named from the demo data index (deploy/demo/README.md)."""
    pracs = index["practitioners"]
    patients = {p["id"]: p for p in index["demoPatients"]}
    return [
        {"id": "demo-clinic", "name": "Demo Family Clinic (provider organization)", "kind": "organization",
         "alg": "ES384", "practitioners": [pracs[0], pracs[1]], "patient": patients["pat-00001"],
         "network": "127.0.0.0/8"},
        {"id": "demo-prescriber",
         "name": f"Dr {pracs[2]['given'][0]} {pracs[2]['family']} (individual prescriber)",
         "kind": "provider", "alg": "RS384", "practitioners": [pracs[2]], "patient": patients["pat-00006"],
         "network": None},
    ]


def registered_clients(demo: Demo) -> dict:
    proc = demo.cli("clients", "list", "--json", "--config", str(demo.config), check=False)
    if proc.returncode != 0:
        return {}
    try:
        return {c["id"]: c for c in json.loads(proc.stdout)}
    except (ValueError, KeyError, TypeError):
        return {}


def ensure_requesters(demo: Demo, index: dict) -> list[dict]:
    """Generates each requester's key (openssl), registers it through `pdmp-gateway clients add` under its
    RFC 7638 thumbprint, and writes requesters/<id>.json. Keeps registrations that already match."""
    rdir = demo.dir / "requesters"
    rdir.mkdir(parents=True, exist_ok=True)
    registry = registered_clients(demo)
    out = []
    for spec in requester_specs(index):
        cid = spec["id"]
        pem = rdir / f"{cid}.pem"
        if not pem.exists():
            log(f"generating {cid}'s {spec['alg']} key (requesters/{cid}.pem)")
            algo = (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"] if spec["alg"] == "ES384"
                    else ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
            run(["openssl", "genpkey", *algo, "-out", str(pem)])
            pem.chmod(0o600)
        kid = jwk_thumbprint(pem)
        npis = [p["npi"] for p in spec["practitioners"]]
        current = registry.get(cid)
        if not (current and current.get("key_ids") == [kid] and sorted(current.get("npis", [])) == sorted(npis)
                and current.get("status") == "active"):
            log(f"registering {cid} ({spec['kind']}, {spec['alg']}, NPIs {', '.join(npis)}) with the CLI")
            pub = rdir / f"{cid}.pub.pem"
            run(["openssl", "pkey", "-in", str(pem), "-pubout", "-out", str(pub)])
            args = ["clients", "add", cid, "--config", str(demo.config), "--name", spec["name"],
                    "--kind", spec["kind"], "--role", "prescriber", "--scope", DEMO_SCOPES,
                    "--public-key", str(pub), "--kid", kid, "--alg", spec["alg"], "--replace"]
            for npi in npis:
                args += ["--npi", npi]
            for p in spec["practitioners"]:
                args += ["--dea", p["dea"]]
            if spec["network"]:
                args += ["--network", spec["network"]]
            demo.cli(*args)
            pub.unlink(missing_ok=True)
        patient = spec["patient"]
        desc = {
            "client_id": cid, "name": spec["name"], "kind": spec["kind"], "kid": kid, "alg": spec["alg"],
            "key": str(pem), "scopes": DEMO_SCOPES.split(),
            "npis": npis,
            "practitioners": [{k: p[k] for k in ("id", "family", "given", "npi", "dea")}
                              for p in spec["practitioners"]],
            "patient": {k: patient[k] for k in ("id", "family", "given", "birthDate", "gender")},
            "token_url": demo.token_url, "fhir_base": demo.fhir, "ca": str(demo.dir / "ca.pem"),
        }
        (rdir / f"{cid}.json").write_text(json.dumps(desc, indent=2) + "\n")
        out.append(desc)
    return out


def history_request(index: dict, patient: dict, practitioner: dict) -> dict:
    """A $pdmp-history Parameters body for `patient` (by demographics) on behalf of `practitioner`,
    built from the index's complete example by swapping those two resources."""
    body = json.loads(json.dumps(index["pdmpHistoryRequest"]))
    for param in body["parameter"]:
        if param["name"] == "patient":
            param["resource"] = {"resourceType": "Patient",
                                 "name": [{"family": patient["family"], "given": patient["given"][:1]}],
                                 "gender": patient["gender"], "birthDate": patient["birthDate"]}
        elif param["name"] == "authorized-practitioner":
            param["resource"]["identifier"] = [{"system": "http://hl7.org/fhir/sid/us-npi",
                                                "value": practitioner["npi"]}]
            param["resource"]["name"] = [{"family": practitioner["family"], "given": practitioner["given"]}]
    return body


# MARK: - configuration

def write_config(demo: Demo) -> None:
    (demo.dir / "audit").mkdir(parents=True, exist_ok=True)
    demo.config.write_text(f"""# Generated by deploy/demo/demo_env.py on every start. See docs/configuration.md.
listen:
  address: 127.0.0.1
  port: {demo.ports.gateway}
  tls:
    certificate: server.pem
    private_key: server.key
public_base_url: {demo.base}
admin:
  address: 127.0.0.1
  port: {demo.ports.admin}
upstream:
  url: http://127.0.0.1:{demo.ports.responder}/fhir
fhir:
  base_path: /fhir
auth:
  signing_keys: keys
  clients: clients.yaml
policies: {ROOT / 'policies'}
audit:
  directory: audit
shared_state: memory
logging:
  level: info
""")


def set_up(demo: Demo, index: dict) -> list[dict]:
    demo.dir.mkdir(parents=True, exist_ok=True)
    ensure_ca_and_server_cert(demo)
    write_config(demo)
    ensure_signing_key(demo)
    requesters = ensure_requesters(demo, index)
    for r in requesters:
        body = history_request(index, r["patient"], r["practitioners"][0])
        (demo.dir / "requesters" / f"{r['client_id']}.pdmp-history.json").write_text(json.dumps(body, indent=2))
    check = demo.cli("check", "--config", str(demo.config), check=False)
    if check.returncode != 0:
        raise SystemExit(f"demo: `pdmp-gateway check` refused the configuration:\n{check.stdout}{check.stderr}")
    return requesters


# MARK: - processes

class Processes:
    """Children started by the demo; stop() ends them newest first (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.after_stop: list[list[str]] = []

    def add(self, name: str, proc: subprocess.Popen, after_stop: list[str] | None = None) -> None:
        """`after_stop` runs once the child is gone: start-upstream stops its servers itself only once it is
        in its foreground loop; stopped earlier (seeding), its servers are stopped by their pid files."""
        self.children.append((name, proc))
        if after_stop:
            self.after_stop.append(after_stop)

    def stop(self) -> None:
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                except OSError:
                    pass
        self.children.clear()
        for cmd in self.after_stop:
            subprocess.run(cmd, capture_output=True)
        self.after_stop.clear()

    def dead(self) -> str | None:
        for name, proc in self.children:
            if proc.poll() is not None:
                return f"{name} exited with status {proc.returncode}"
        return None


def start_upstream(demo: Demo, procs: Processes, timeout: float = 600) -> dict:
    """Starts (or reuses) sekmet-fhir and the $pdmp-history responder in the foreground of a child
    process, waits for its READY line, and returns the demo data index."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    if not venv_python.exists():
        raise SystemExit("demo: .venv is missing; run scripts/setup-python (make run does it)")
    cmd = [str(venv_python), str(HERE / "start-upstream"), "--port", str(demo.ports.sekmet),
           "--responder-port", str(demo.ports.responder), "--data-dir", str(demo.upstream_dir),
           "--patients", str(demo.patients), "--foreground", "--timeout", "120"]
    # start-upstream seeds only when seeded.json does not record this data set: say so only then.
    try:
        seeded = json.loads((demo.upstream_dir / "seeded.json").read_text()).get("patients") == demo.patients
    except (OSError, ValueError, AttributeError):
        seeded = False
    note = "existing data" if seeded else "seeding sekmet-fhir first"
    log(f"starting the demo upstream ({demo.patients} patients; {note})")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    procs.add("demo upstream", proc,
              after_stop=[str(HERE / "stop-upstream"), "--data-dir", str(demo.upstream_dir)])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"demo: start-upstream exited ({proc.wait()}); see {demo.upstream_dir}/*.log")
        if line.startswith("READY"):
            log(line.strip())
            break
    else:
        raise SystemExit("demo: the upstream did not become ready in time")
    return json.loads((demo.upstream_dir / "demo-index.json").read_text())


def start_gateway(demo: Demo, procs: Processes, log_file: Path | None = None, timeout: float = 60) -> None:
    out = open(log_file, "ab") if log_file else None
    proc = subprocess.Popen([str(demo.gateway_bin), "serve", "--config", str(demo.config)],
                            stdout=out, stderr=out, start_new_session=True)
    procs.add("gateway", proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo: the gateway exited with status {proc.returncode} before it was ready"
                             + (f"; see {log_file}" if log_file else ""))
        try:
            with urllib.request.urlopen(demo.admin + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"demo: the gateway was not ready at {demo.admin}/readyz after {timeout:.0f}s")
