"""Demo policies, policyholders and documents for the embedded run, published the way the core system would.

Policy data goes out as ``policy.upserted`` events; a demo PDF is put into the inbox bucket and announced with
``document.uploaded``. Event ids are fixed, so publishing twice changes nothing.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone

from portal_common import config
from portal_common.bus import OutgoingMessage, Publisher, load_topology

NAMESPACE = uuid.UUID("6f1d3c2a-8a4e-4f7e-9a55-1f2d3c4b5a69")
UPDATED_AT = "2026-01-15T08:00:00+00:00"

CUSTOMERS = [
    {
        "policyholder": {"customer_id": "DEMO-C-1001", "name": "Minta Anna", "birth_name": "Példa Anna",
                         "birth_date": "1985-04-12", "birth_place": "Szeged", "mother_name": "Kiss Mária",
                         "email": "anna.minta@example.org", "mobile": "+36301234567"},
        "policies": [
            {"policy_number": "KGFB-100001", "product": "kgfb", "payment_method": "bank_transfer",
             "premium": {"amount": 48600, "frequency": "annual"}, "start_date": "2024-03-01"},
            {"policy_number": "OTTHON-100002", "product": "home", "payment_method": "cheque",
             "premium": {"amount": 9250, "frequency": "quarterly"}, "start_date": "2023-09-15"},
        ],
        "note": "may register (motor liability paid by bank transfer); the home policy is paid by cheque and can be "
                "enrolled into ePosta after login",
    },
    {
        "policyholder": {"customer_id": "DEMO-C-1002", "name": "Teszt Béla", "birth_name": "Teszt Béla",
                         "birth_date": "1972-11-30", "birth_place": "Debrecen", "mother_name": "Nagy Erzsébet",
                         "email": "bela.teszt@example.org", "mobile": "+36209876543"},
        "policies": [
            {"policy_number": "CASCO-200001", "product": "casco", "payment_method": "direct_debit",
             "premium": {"amount": 21400, "frequency": "monthly"}, "start_date": "2025-06-01"},
        ],
        "note": "may register (casco paid by direct debit)",
    },
    {
        "policyholder": {"customer_id": "DEMO-C-1003", "name": "Próba Csilla", "birth_name": "Próba Csilla",
                         "birth_date": "1990-02-03", "birth_place": "Pécs", "mother_name": "Szabó Ilona",
                         "email": "csilla.proba@example.org", "mobile": "+36701112233"},
        "policies": [
            {"policy_number": "EGYEB-300001", "product": "other", "payment_method": "bank_transfer",
             "premium": {"amount": 12000, "frequency": "annual"}, "start_date": "2022-01-01"},
        ],
        "note": "may NOT register: her only policy is not an eligible product",
    },
    {
        "policyholder": {"customer_id": "DEMO-C-1004", "name": "Demó Dénes", "birth_name": "Demó Dénes",
                         "birth_date": "1968-08-20", "birth_place": "Győr", "mother_name": "Varga Katalin",
                         "email": "denes.demo@example.org", "mobile": "+36701230000"},
        "policies": [
            {"policy_number": "KGFB-400001", "product": "kgfb", "payment_method": "direct_debit",
             "premium": {"amount": 39900, "frequency": "semiannual"}, "start_date": "2025-01-01"},
        ],
        "note": "may register, but the demo SMS gateway refuses his number: the 'SMS could not be sent' case",
    },
    {
        "policyholder": {"customer_id": "DEMO-C-1005", "name": "Példa Emese", "birth_name": "Kovács Emese",
                         "birth_date": "1979-06-21", "birth_place": "Miskolc", "mother_name": "Tóth Judit",
                         "email": "emese.pelda@example.org", "mobile": "+36305551234"},
        "policies": [
            {"policy_number": "KGFB-500001", "product": "kgfb", "payment_method": "direct_debit",
             "premium": {"amount": 52300, "frequency": "annual"}, "start_date": "2024-05-01"},
            {"policy_number": "OTTHON-500002", "product": "home", "payment_method": "bank_transfer",
             "premium": {"amount": 11800, "frequency": "quarterly"}, "start_date": "2025-02-01"},
        ],
        "note": "may register; three documents on two policies: download all as one ZIP, sort, change e-mail/mobile",
    },
]

DOCUMENTS = [
    {"document_id": "5d0c1f6e-1a7b-4c5e-9e0a-0a1b2c3d4e01", "customer_id": "DEMO-C-1001",
     "policy_number": "KGFB-100001", "doc_type": "policy_schedule", "title": "Kötvény – KGFB-100001"},
    {"document_id": "5d0c1f6e-1a7b-4c5e-9e0a-0a1b2c3d4e02", "customer_id": "DEMO-C-1001",
     "policy_number": "KGFB-100001", "doc_type": "premium_notice", "title": "Díjértesítő 2026 – KGFB-100001"},
    {"document_id": "5d0c1f6e-1a7b-4c5e-9e0a-0a1b2c3d4e51", "customer_id": "DEMO-C-1005",
     "policy_number": "KGFB-500001", "doc_type": "policy_schedule", "title": "Kötvény – KGFB-500001"},
    {"document_id": "5d0c1f6e-1a7b-4c5e-9e0a-0a1b2c3d4e52", "customer_id": "DEMO-C-1005",
     "policy_number": "OTTHON-500002", "doc_type": "policy_schedule", "title": "Kötvény – OTTHON-500002"},
    {"document_id": "5d0c1f6e-1a7b-4c5e-9e0a-0a1b2c3d4e53", "customer_id": "DEMO-C-1005",
     "policy_number": "KGFB-500001", "doc_type": "premium_notice", "title": "Díjértesítő 2026 – KGFB-500001"},
]


def policy_events() -> list[dict]:
    events = []
    for customer in CUSTOMERS:
        for policy in customer["policies"]:
            events.append({**policy, "status": "active", "policyholder": customer["policyholder"],
                           "updated_at": UPDATED_AT})
    return events


def minimal_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF with a few lines of (Latin-1) text, without a PDF library."""
    text = "BT /F1 14 Tf 72 760 Td 18 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '" for line in lines) + " ET"
    stream = text.encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def seed(s3_client, inbox_bucket: str) -> None:
    topology = load_topology()
    publisher = Publisher(topology)
    now = datetime.now(timezone.utc).isoformat()
    messages = [OutgoingMessage.for_event(str(uuid.uuid5(NAMESPACE, "policy:" + e["policy_number"])),
                                          "policy.upserted", e, occurred_at=now, correlation_id="demo-seed")
                for e in policy_events()]
    _publish(publisher, messages)
    try:
        s3_client.create_bucket(Bucket=inbox_bucket)
    except s3_client.exceptions.ClientError:
        pass
    messages = []
    for doc in DOCUMENTS:
        pdf = minimal_pdf([config.env("PORTAL_INSURER_NAME", "Minta Biztosító"), doc["title"],
                           f"Szerződésszám: {doc['policy_number']}", "Demó dokumentum / demo document"])
        key = f"inbox/{doc['document_id']}.pdf"
        s3_client.put_object(Bucket=inbox_bucket, Key=key, Body=pdf, ContentType="application/pdf")
        event = {**doc, "uploaded_at": now, "bucket": inbox_bucket, "key": key, "content_type": "application/pdf",
                 "size": len(pdf), "sha256": hashlib.sha256(pdf).hexdigest()}
        messages.append(OutgoingMessage.for_event(str(uuid.uuid5(NAMESPACE, "doc:" + doc["document_id"])),
                                                  "document.uploaded", event, occurred_at=now,
                                                  correlation_id="demo-seed"))
    _publish(publisher, messages)
    publisher.close()


def _publish(publisher: Publisher, messages) -> None:
    results = publisher.publish_batch(messages)
    failed = {k: v for k, v in results.items() if v}
    if failed:
        raise RuntimeError(f"demo data could not be published: {failed}")


def banner_lines() -> list[str]:
    lines = ["Demo policyholders (identification data for declaration and registration):"]
    for customer in CUSTOMERS:
        h = customer["policyholder"]
        numbers = ", ".join(p["policy_number"] for p in customer["policies"])
        lines += [f"  - {h['name']} (birth name {h['birth_name']}), born {h['birth_date']} in {h['birth_place']}, "
                  f"mother's name {h['mother_name']}",
                  f"    policies: {numbers}; e-mail {h['email']}, mobile {h['mobile']}",
                  f"    {customer['note']}"]
    return lines
