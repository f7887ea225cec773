#!/usr/bin/env python3
"""Deterministic generator of PDMP-shaped FHIR R4 demo data (Python stdlib only).

The shapes follow the HL7 PDMP IG 1.0.0 profiles (http://hl7.org/fhir/us/pdmp/STU1/artifacts.html): pdmp-patient (MR/SS/DL identifiers,
full birthDate), US Core Practitioner (NPI + DEA), pdmp-organization-pharmacy (NPI + NCPDP + DEA),
US Core Medication (RxNorm), US Core MedicationRequest, pdmp-medicationdispense (RxNorm, quantity,
daysSupply, whenPrepared, whenHandedOver, performer pharmacy, authorizingPrescription) and
pdmp-medicationadministration. Every identifier is synthetic: SSNs start with 9 (never issued), NPIs
and DEA numbers carry valid check digits but are generated, telephone numbers use 555-01xx.

The same --seed and --patients always produce byte-identical output (no wall clock, no hash order).
Resources carry fixed ids, so the data is loaded with PUT entries in transaction Bundles and loading
twice leaves the server unchanged apart from version counters.

Usage:
  generate_data.py --patients 1000 --post http://127.0.0.1:8091/fhir --index .demo/demo-index.json
  generate_data.py --patients 50 --out /tmp/bundles      # write the transaction Bundles as files
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# ---------------------------------------------------------------- code systems and profiles

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
DEA_SYSTEM = "http://terminology.hl7.org/NamingSystem/usdeanumber"  # PDMP IG pharmacy DEA slice
NCPDP_SYSTEM = "http://terminology.hl7.org/CodeSystem/NCPDPProviderIdentificationNumber"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1.1"  # demo facility MRN namespace (9999 = example arc)
DL_SYSTEM = "urn:oid:2.16.840.1.113883.4.3.25"  # driver's license, FIPS 25 (Massachusetts)
RX_NUMBER_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1.2"  # pharmacy prescription (Rx) numbers
FILL_ID_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1.3"
SOURCE = "urn:demo:ma-pdmp"  # meta.source: the data source, as the PDMP IG asks (pdmp-bundle-history-result)

PDMP = "http://hl7.org/fhir/us/pdmp/StructureDefinition/"
USCORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
PROFILE = {
    "Patient": PDMP + "pdmp-patient",
    "Practitioner": USCORE + "us-core-practitioner",
    "Organization": PDMP + "pdmp-organization-pharmacy",
    "Medication": USCORE + "us-core-medication",
    "MedicationRequest": USCORE + "us-core-medicationrequest",
    "MedicationDispense": PDMP + "pdmp-medicationdispense",
    "MedicationAdministration": PDMP + "pdmp-medicationadministration",
}

# Controlled substances with their RxNorm SCD codes (as listed in the eCQM opioid and CNS value sets).
# (rxcui, display, schedule, unit, per-day units, kind)
MEDICATIONS = [
    ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet", "CII", "each", 4, "opioid"),
    ("1049683", "oxycodone hydrochloride 10 MG Oral Tablet", "CII", "each", 3, "opioid"),
    ("1049221", "acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet", "CII", "each", 4, "opioid"),
    ("857002", "acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet", "CII", "each", 4, "opioid"),
    ("856999", "acetaminophen 325 MG / hydrocodone bitartrate 10 MG Oral Tablet", "CII", "each", 3, "opioid"),
    ("835603", "tramadol hydrochloride 50 MG Oral Tablet", "CIV", "each", 4, "opioid"),
    ("891881", "morphine sulfate 15 MG Extended Release Oral Tablet", "CII", "each", 2, "opioid"),
    ("864718", "methadone hydrochloride 5 MG Oral Tablet", "CII", "each", 2, "opioid"),
    ("1010604", "buprenorphine 8 MG / naloxone 2 MG Sublingual Film", "CIII", "each", 2, "mat"),
    ("308048", "alprazolam 0.5 MG Oral Tablet", "CIV", "each", 2, "benzo"),
    ("197901", "lorazepam 1 MG Oral Tablet", "CIV", "each", 2, "benzo"),
    ("197527", "clonazepam 0.5 MG Oral Tablet", "CIV", "each", 2, "benzo"),
    ("854873", "zolpidem tartrate 10 MG Oral Tablet", "CIV", "each", 1, "sleep"),
    ("899548", "dexmethylphenidate hydrochloride 10 MG Oral Tablet", "CII", "each", 2, "stimulant"),
]
# Administered at an opioid treatment programme (MedicationAdministration): methadone oral solution.
ADMIN_MED = ("991147", "methadone hydrochloride 10 MG/ML Oral Solution")

SIG = {
    "opioid": "Take 1 tablet by mouth every 6 hours as needed for pain",
    "mat": "Dissolve 1 film under the tongue once daily",
    "benzo": "Take 1 tablet by mouth twice daily as needed for anxiety",
    "sleep": "Take 1 tablet by mouth at bedtime as needed for sleep",
    "stimulant": "Take 1 tablet by mouth twice daily",
}

GIVEN_F = ["Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
           "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna", "Michelle",
           "Carol", "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Laura", "Sharon", "Cynthia",
           "Kathleen", "Amy", "Angela", "Shirley", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Helen",
           "Samantha", "Katherine", "Christine", "Rachel", "Carolyn", "Janet", "Maria", "Heather", "Diane"]
GIVEN_M = ["James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas", "Charles",
           "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua",
           "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan",
           "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott", "Brandon",
           "Benjamin", "Samuel", "Gregory", "Alexander", "Frank", "Patrick", "Raymond", "Jack", "Dennis"]
FAMILY = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
          "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
          "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
          "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
          "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez",
          "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart",
          "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
          "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks"]
CITIES = [("Boston", "02118"), ("Worcester", "01608"), ("Springfield", "01103"), ("Cambridge", "02139"),
          ("Lowell", "01852"), ("Brockton", "02301"), ("Quincy", "02169"), ("Lynn", "01901"),
          ("New Bedford", "02740"), ("Fall River", "02720"), ("Newton", "02458"), ("Somerville", "02143"),
          ("Framingham", "01702"), ("Haverhill", "01830"), ("Waltham", "02451"), ("Malden", "02148")]
STREETS = ["Main St", "Elm St", "Washington St", "Maple Ave", "Oak St", "Pleasant St", "Park Ave", "Highland Ave",
           "Summer St", "Water St", "Church St", "School St", "Union St", "Prospect St", "Center St", "Chestnut St"]
PHARMACY_NAMES = ["Harbor", "Beacon", "Commonwealth", "Riverside", "Hilltop", "Lakeside", "Bayview", "Pioneer",
                  "Granite", "Minuteman", "Liberty", "Cranberry", "Seaside", "Oakwood", "Maplewood", "Northshore",
                  "Southshore", "Berkshire", "Pilgrim", "Mystic", "Charles", "Cape", "Valley", "Summit"]
SPECIALTY_SUFFIX = ["MD", "MD", "MD", "DO", "NP", "PA", "DDS"]

DEFAULT_SEED = 20240611
ANCHOR = dt.date(2026, 10, 31)  # "today" of the data set: every date is derived from it, never from the clock


# ---------------------------------------------------------------- check digits

def luhn_check_digit(payload: str) -> int:
    """Luhn check digit for `payload` (the digit that makes payload+digit pass the Luhn test)."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # doubled positions, counted from the right of the payload
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def npi_from_base(base9: str) -> str:
    """NPI = 9 digits + Luhn check digit computed over the prefix 80840 + the 9 digits (CMS NPI standard)."""
    return base9 + str(luhn_check_digit("80840" + base9))


def npi_is_valid(npi: str) -> bool:
    return len(npi) == 10 and npi.isdigit() and npi_from_base(npi[:9]) == npi


def dea_number(first: str, second: str, digits6: str) -> str:
    """DEA registration number: 2 letters + 6 digits + check digit ((d1+d3+d5) + 2*(d2+d4+d6)) mod 10."""
    d = [int(c) for c in digits6]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return f"{first}{second}{digits6}{check}"


def dea_is_valid(dea: str) -> bool:
    return len(dea) == 9 and dea[:2].isalpha() and dea[2:].isdigit() and dea_number(dea[0], dea[1], dea[2:8]) == dea


# ---------------------------------------------------------------- builders

def _meta(rtype: str) -> dict:
    return {"profile": [PROFILE[rtype]], "source": SOURCE}


def _coding_cc(system: str, code: str, display: str, text: str | None = None) -> dict:
    cc = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        cc["text"] = text
    return cc


def _ident_type(code: str, display: str) -> dict:
    return _coding_cc(V2_0203, code, display)


def _address(rng: random.Random) -> dict:
    city, zip_code = rng.choice(CITIES)
    return {"use": "home", "line": [f"{rng.randint(1, 999)} {rng.choice(STREETS)}"], "city": city,
            "state": "MA", "postalCode": zip_code, "country": "US"}


def _phone(rng: random.Random) -> str:
    return f"555-01{rng.randint(0, 99):02d}"  # 555-0100..0199 are reserved for fiction


def make_practitioner(i: int, rng: random.Random, used_npi: set) -> dict:
    gender = rng.choice(["male", "female"])
    given = rng.choice(GIVEN_M if gender == "male" else GIVEN_F)
    family = rng.choice(FAMILY)
    while True:
        npi = npi_from_base("1" + "".join(str(rng.randint(0, 9)) for _ in range(8)))
        if npi not in used_npi:
            used_npi.add(npi)
            break
    suffix = rng.choice(SPECIALTY_SUFFIX)
    dea = dea_number("M" if suffix in ("NP", "PA") else "F", family[0],
                     "".join(str(rng.randint(0, 9)) for _ in range(6)))
    return {
        "resourceType": "Practitioner", "id": f"prac-{i:03d}", "meta": _meta("Practitioner"),
        "identifier": [
            {"system": NPI_SYSTEM, "value": npi},
            {"type": _ident_type("DEA", "Drug Enforcement Administration registration number"),
             "system": DEA_SYSTEM, "value": dea},
        ],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given], "suffix": [suffix]}],
        "telecom": [{"system": "phone", "value": _phone(rng), "use": "work"}],
        "address": [{**_address(rng), "use": "work"}],
        "gender": gender,
    }


def make_pharmacy(i: int, rng: random.Random, used_npi: set) -> dict:
    name = f"{PHARMACY_NAMES[i % len(PHARMACY_NAMES)]} Pharmacy"
    while True:
        npi = npi_from_base("1" + "".join(str(rng.randint(0, 9)) for _ in range(8)))
        if npi not in used_npi:
            used_npi.add(npi)
            break
    ncpdp = f"22{i:02d}{rng.randint(0, 999):03d}"  # 7 digits, 22 = Massachusetts NCPDP state prefix
    dea = dea_number("B", name[0], "".join(str(rng.randint(0, 9)) for _ in range(6)))
    return {
        "resourceType": "Organization", "id": f"pharm-{i:02d}", "meta": _meta("Organization"),
        "identifier": [
            {"system": NPI_SYSTEM, "value": npi},
            {"system": NCPDP_SYSTEM, "value": ncpdp},
            {"system": DEA_SYSTEM, "value": dea},
        ],
        "active": True,
        "type": [_coding_cc("http://terminology.hl7.org/CodeSystem/organization-type", "prov",
                            "Healthcare Provider")],
        "name": name,
        "telecom": [{"system": "phone", "value": _phone(rng), "use": "work"}],
        "address": [{**_address(rng), "use": "work"}],
    }


def make_medication(med: tuple) -> dict:
    rxcui, display, schedule, _unit, _per_day, _kind = med
    return {
        "resourceType": "Medication", "id": f"med-{rxcui}", "meta": _meta("Medication"),
        "code": _coding_cc(RXNORM, rxcui, display, f"{display} (DEA schedule {schedule})"),
        "status": "active",
    }


def make_patient(i: int, rng: random.Random, used_ssn: set, clone_of: dict | None = None) -> dict:
    if clone_of is not None:  # same demographics, different person: drives the IG's multiple-Patient rule
        gender, given, family, birth = (clone_of["gender"], clone_of["name"][0]["given"][0],
                                        clone_of["name"][0]["family"], clone_of["birthDate"])
    else:
        gender = rng.choice(["male", "female"])
        given = rng.choice(GIVEN_M if gender == "male" else GIVEN_F)
        family = rng.choice(FAMILY)
        birth = (ANCHOR - dt.timedelta(days=rng.randint(18 * 365, 88 * 365))).isoformat()
    while True:
        ssn = f"9{rng.randint(0, 99_999_999):08d}"
        if ssn not in used_ssn:
            used_ssn.add(ssn)
            break
    middle = rng.choice(GIVEN_M if gender == "male" else GIVEN_F)[0]
    return {
        "resourceType": "Patient", "id": f"pat-{i:05d}", "meta": _meta("Patient"),
        "identifier": [
            {"use": "usual", "type": _ident_type("MR", "Medical record number"), "system": MRN_SYSTEM,
             "value": f"MRN{100000 + i * 7:07d}"},
            {"type": _ident_type("SS", "Social Security number"), "system": SSN_SYSTEM, "value": ssn},
            {"type": _ident_type("DL", "Driver's license number"), "system": DL_SYSTEM,
             "value": f"S{rng.randint(0, 99_999_999):08d}"},
        ],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given, middle]}],
        "telecom": [{"system": "phone", "value": _phone(rng), "use": "home"}],
        "gender": gender,
        "birthDate": birth,
        "address": [_address(rng)],
    }


def _ref(res: dict, display: str | None = None) -> dict:
    ref = {"reference": f"{res['resourceType']}/{res['id']}"}
    if display:
        ref["display"] = display
    return ref


def _prac_display(p: dict) -> str:
    n = p["name"][0]
    return f"{n['given'][0]} {n['family']}, {n['suffix'][0]}"


def _instant(day: dt.date, rng: random.Random) -> str:
    return f"{day.isoformat()}T{rng.randint(8, 19):02d}:{rng.randint(0, 59):02d}:00-05:00"


def make_history(pat: dict, n_rx: int, with_admin: bool, rng: random.Random, pracs: list, pharmacies: list,
                 meds: dict) -> list[dict]:
    """MedicationRequests, their fills (MedicationDispense) and, for OTP patients, administrations."""
    out: list[dict] = []
    pnum = pat["id"].split("-")[1]
    pat_ref = _ref(pat, f"{pat['name'][0]['given'][0]} {pat['name'][0]['family']}")
    for k in range(1, n_rx + 1):
        med = rng.choice(MEDICATIONS)
        rxcui, display, _schedule, unit, per_day, kind = med
        prescriber = rng.choice(pracs)
        days = rng.choice([5, 7, 10, 14, 30]) if kind == "opioid" else 30
        qty = days * per_day
        refills = 0 if med[2] == "CII" else rng.randint(0, 2)  # Schedule II: no refills (21 CFR 1306.12)
        authored = ANCHOR - dt.timedelta(days=rng.randint(20, 360))
        rx_number = f"{rng.randint(1_000_000, 9_999_999)}"
        status = "completed" if authored < ANCHOR - dt.timedelta(days=(refills + 1) * days + 10) else "active"
        mr = {
            "resourceType": "MedicationRequest", "id": f"mr-{pnum}-{k}", "meta": _meta("MedicationRequest"),
            "identifier": [{"system": RX_NUMBER_SYSTEM, "value": rx_number}],
            "status": status, "intent": "order",
            "category": [_coding_cc("http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                    "community", "Community")],
            "reportedBoolean": False,
            "medicationReference": _ref(meds[rxcui], display),
            "subject": pat_ref,
            "authoredOn": authored.isoformat(),
            "requester": _ref(prescriber, _prac_display(prescriber)),
            "dosageInstruction": [{"text": SIG[kind]}],
            "dispenseRequest": {
                "numberOfRepeatsAllowed": refills,
                "quantity": {"value": qty, "unit": unit},
                "expectedSupplyDuration": {"value": days, "unit": "days", "system": UCUM, "code": "d"},
            },
        }
        out.append(mr)
        pharmacy = rng.choice(pharmacies)
        fills = 1 + (rng.randint(0, refills) if refills else 0)
        for f in range(fills):
            prepared = authored + dt.timedelta(days=f * days + rng.randint(0, 2))
            if prepared > ANCHOR:
                break
            handed = prepared + dt.timedelta(days=rng.randint(0, 1))
            out.append({
                "resourceType": "MedicationDispense", "id": f"md-{pnum}-{k}-{f + 1}",
                "meta": _meta("MedicationDispense"),
                "identifier": [{"system": FILL_ID_SYSTEM, "value": f"{rx_number}-{f}"}],
                "status": "completed",
                "type": _coding_cc("http://terminology.hl7.org/CodeSystem/v3-ActCode", "FF" if f == 0 else "RF",
                                   "First Fill" if f == 0 else "Refill"),
                "medicationCodeableConcept": _coding_cc(RXNORM, rxcui, display, display),
                "subject": pat_ref,
                "performer": [{"actor": _ref(pharmacy, pharmacy["name"])}],
                "authorizingPrescription": [_ref(mr)],
                "quantity": {"value": qty, "unit": unit},
                "daysSupply": {"value": days, "unit": "days", "system": UCUM, "code": "d"},
                "whenPrepared": _instant(prepared, rng),
                "whenHandedOver": _instant(handed, rng),
                "dosageInstruction": [{"text": SIG[kind]}],
            })
    if with_admin:
        prescriber = rng.choice(pracs)
        start = ANCHOR - dt.timedelta(days=rng.randint(30, 120))
        admin_mr = {
            "resourceType": "MedicationRequest", "id": f"mr-{pnum}-otp", "meta": _meta("MedicationRequest"),
            "status": "active", "intent": "order", "reportedBoolean": False,
            "medicationReference": _ref(meds[ADMIN_MED[0]], ADMIN_MED[1]),
            "subject": pat_ref, "authoredOn": start.isoformat(),
            "requester": _ref(prescriber, _prac_display(prescriber)),
            "dosageInstruction": [{"text": "60 mg by mouth once daily, observed"}],
        }
        out.append(admin_mr)
        for d in range(rng.randint(2, 5)):
            day = start + dt.timedelta(days=d)
            out.append({
                "resourceType": "MedicationAdministration", "id": f"ma-{pnum}-{d + 1}",
                "meta": _meta("MedicationAdministration"),
                "status": "completed",
                "medicationCodeableConcept": _coding_cc(RXNORM, ADMIN_MED[0], ADMIN_MED[1], ADMIN_MED[1]),
                "subject": pat_ref,
                "effectiveDateTime": _instant(day, rng),
                "performer": [{"actor": _ref(prescriber, _prac_display(prescriber))}],
                "request": _ref(admin_mr),
                "dosage": {"text": "60 mg by mouth, observed",
                           "dose": {"value": 60, "unit": "mg", "system": UCUM, "code": "mg"}},
            })
    return out


# ---------------------------------------------------------------- the data set

def generate(n_patients: int, seed: int, n_practitioners: int = 40, n_pharmacies: int = 24):
    """Returns (master resources, list of per-patient resource lists, demo index)."""
    rng = random.Random(seed)
    used_npi: set = set()
    pracs = [make_practitioner(i, rng, used_npi) for i in range(1, n_practitioners + 1)]
    pharmacies = [make_pharmacy(i, rng, used_npi) for i in range(1, n_pharmacies + 1)]
    meds_list = [make_medication(m) for m in MEDICATIONS]
    meds_list.append(make_medication((ADMIN_MED[0], ADMIN_MED[1], "CII", "mL", 1, "otp")))
    meds = {m["code"]["coding"][0]["code"]: m for m in meds_list}
    masters = [*pracs, *pharmacies, *meds_list]

    used_ssn: set = set()
    per_patient: list[list[dict]] = []
    patients: list[dict] = []
    for i in range(1, n_patients + 1):
        # Patient 3 shares patient 2's name, birth date and gender: a demographic search must return both.
        clone = patients[1] if i == 3 and len(patients) >= 2 else None
        pat = make_patient(i, rng, used_ssn, clone)
        patients.append(pat)
        if i == 5:
            n_rx = 0  # a patient with no controlled-substance history: $pdmp-history answers no-data
        elif i <= 10:
            n_rx = rng.randint(2, 5)  # demo patients always have history
        else:
            n_rx = rng.choices([0, 1, 2, 3, 4, 5, 6], weights=[8, 25, 25, 18, 12, 7, 5])[0]
        with_admin = i == 4 or (i > 10 and rng.random() < 0.04)
        per_patient.append([pat, *make_history(pat, n_rx, with_admin, rng, pracs, pharmacies, meds)])

    def demo_patient(p: dict, note: str) -> dict:
        return {"id": p["id"], "family": p["name"][0]["family"], "given": p["name"][0]["given"],
                "birthDate": p["birthDate"], "gender": p["gender"],
                "ssn": next(x["value"] for x in p["identifier"] if x["system"] == SSN_SYSTEM), "note": note}

    def demo_prac(p: dict) -> dict:
        ids = {x["system"]: x["value"] for x in p["identifier"]}
        return {"id": p["id"], "family": p["name"][0]["family"], "given": p["name"][0]["given"],
                "npi": ids[NPI_SYSTEM], "dea": ids[DEA_SYSTEM]}

    notes = {1: "has dispense history", 2: "shares name, birthDate and gender with pat-00003",
             3: "shares name, birthDate and gender with pat-00002", 4: "has MedicationAdministrations (OTP)",
             5: "no controlled-substance history (no-data)", 6: "has dispense history"}
    index = {
        "seed": seed, "patients": n_patients, "source": SOURCE,
        "demoPatients": [demo_patient(patients[i - 1], notes[i]) for i in sorted(notes) if i <= n_patients],
        "practitioners": [demo_prac(p) for p in pracs[:6]],
        "pharmacies": [{"id": o["id"], "name": o["name"],
                        "npi": o["identifier"][0]["value"], "ncpdp": o["identifier"][1]["value"]}
                       for o in pharmacies[:3]],
        "counts": {},
    }
    index["pdmpHistoryRequest"] = pdmp_request(patients[0], pracs[0])
    counts: dict[str, int] = {}
    for r in [*masters, *(r for group in per_patient for r in group)]:
        counts[r["resourceType"]] = counts.get(r["resourceType"], 0) + 1
    index["counts"] = dict(sorted(counts.items()))
    return masters, per_patient, index


def pdmp_request(patient: dict, prac: dict) -> dict:
    """A pdmp-parameters-request for `patient` (by demographics only) on behalf of practitioner `prac`."""
    npi = next(i for i in prac["identifier"] if i["system"] == NPI_SYSTEM)
    org = {"resourceType": "Organization", "id": "requesting-clinic", "active": True, "name": "Demo Family Clinic",
           "identifier": [{"system": NPI_SYSTEM, "value": npi_from_base("100000000")}]}
    return {"resourceType": "Parameters",
            "meta": {"profile": ["http://hl7.org/fhir/us/pdmp/StructureDefinition/pdmp-parameters-request"]},
            "parameter": [
                {"name": "patient", "resource": {
                    "resourceType": "Patient", "name": [{"family": patient["name"][0]["family"],
                                                         "given": [patient["name"][0]["given"][0]]}],
                    "gender": patient["gender"], "birthDate": patient["birthDate"]}},
                {"name": "authorized-practitioner", "resource": {
                    "resourceType": "Practitioner", "id": "requesting-practitioner", "identifier": [npi],
                    "name": [{"family": prac["name"][0]["family"], "given": prac["name"][0]["given"]}]}},
                {"name": "authorized-practitioner-role", "resource": {
                    "resourceType": "PractitionerRole", "id": "requesting-role", "active": True,
                    "practitioner": {"reference": "Practitioner/requesting-practitioner"},
                    "organization": {"reference": "Organization/requesting-clinic"}}},
                {"name": "authorized-practitioner-organization", "resource": org},
            ]}


def transaction(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": f"urn:demo:{r['resourceType']}/{r['id']}", "resource": r,
                       "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources]}


def bundles(masters: list[dict], per_patient: list[list[dict]], chunk: int) -> list[dict]:
    out = [transaction(masters)]
    for start in range(0, len(per_patient), chunk):
        out.append(transaction([r for group in per_patient[start:start + chunk] for r in group]))
    return out


def post_bundle(base_url: str, bundle: dict, timeout: float = 300) -> None:
    body = json.dumps(bundle, separators=(",", ":")).encode()
    req = urllib.request.Request(base_url.rstrip("/"), data=body, method="POST",
                                 headers={"Content-Type": "application/fhir+json",
                                          "Accept": "application/fhir+json",
                                          "Prefer": "return=minimal"})  # no 6,000 resources echoed back
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            reply = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"transaction failed: HTTP {e.code}: {e.read()[:2000].decode(errors='replace')}")
    bad = [e["response"]["status"] for e in reply.get("entry", []) if not e["response"]["status"][:1] == "2"]
    if reply.get("type") != "transaction-response" or bad:
        raise SystemExit(f"transaction failed: {bad[:5]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--chunk", type=int, default=100, help="patients per transaction Bundle")
    ap.add_argument("--out", help="directory to write bundle-NNN.json files into")
    ap.add_argument("--post", metavar="FHIR_BASE", help="POST the transaction Bundles to this FHIR base URL")
    ap.add_argument("--index", help="where to write demo-index.json (default: OUT/demo-index.json)")
    args = ap.parse_args(argv)
    if args.patients < 6:
        ap.error("--patients must be at least 6 (the demo index names patients 1-6)")
    masters, per_patient, index = generate(args.patients, args.seed)
    all_bundles = bundles(masters, per_patient, args.chunk)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for n, b in enumerate(all_bundles):
            (out / f"bundle-{n:03d}.json").write_text(json.dumps(b, indent=1, sort_keys=True) + "\n")
    index_path = Path(args.index) if args.index else (Path(args.out) / "demo-index.json" if args.out else None)
    if index_path:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        index_path.write_text(json.dumps(index, indent=2) + "\n")
        # The same request as a file, for `curl --data @pdmp-history-request.json`.
        (index_path.parent / "pdmp-history-request.json").write_text(
            json.dumps(index["pdmpHistoryRequest"], indent=2) + "\n")
    if args.post:
        started = time.monotonic()
        for b in all_bundles:
            post_bundle(args.post, b)
        total = sum(index["counts"].values())
        print(f"loaded {total} resources ({args.patients} patients) in {len(all_bundles)} transactions "
              f"in {time.monotonic() - started:.1f}s", file=sys.stderr)
    if not args.out and not args.post and not args.index:
        json.dump(index, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
