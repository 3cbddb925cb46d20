"""The simulated company's CRM: a contact export for some of the simulated people.

The simulator's people are made up (``sources._people``), so a CRM export of them can be too: the
demo (`groundswell up --simulate RATE`) imports it, and the stream then links these customers to
their social accounts by identity resolution, as it would a real export. No real person is in it.

Like a real export, it holds what a company knows of its customers, not their social accounts: a
name (sometimes only the first name's initial), a work or personal e-mail, the company, the
website most of them also show on their profiles, a city, a tier and the revenue so far
(heavy-tailed), and for a few their X username. It is deterministic in ``seed``.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sources._people import Person

#: HubSpot's contact export columns (what ``identity.crm_import`` reads from a real one)
COLUMNS = (
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Company Name",
    "Website URL",
    "Twitter Username",
    "City",
    "Job Title",
    "Lifecycle Stage",
    "Total Revenue",
)
COMPANIES = ("Northwind", "Globex", "Initech", "Umbrella Labs", "Vandelay", "Hooli", "Stark & Co")
MAIL_DOMAINS = ("example.com", "example.org", "example.net")
FIRST_RECORD_ID = 50_001


@dataclass(frozen=True, slots=True)
class CrmContact:
    person: int  # the simulated person's index: the ground truth of whom identity should link it to
    row: dict[str, str]  # COLUMNS -> value ("" when the CRM does not know it)


def crm_contacts(people: Sequence[Person], seed: str, share: float = 0.15) -> list[CrmContact]:
    """About ``share`` of ``people`` as CRM contacts (one row each, in the people's order)."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], not {share}")
    rng = random.Random(seed)
    contacts: list[CrmContact] = []
    for p in people:
        if rng.random() >= share:
            continue
        domain = p.website.removeprefix("https://") if p.website else rng.choice(MAIL_DOMAINS)
        first, last = p.first.lower(), p.last.lower()
        local = rng.choice((first, f"{first}.{last}", f"{first[0]}{last}"))
        revenue = round(120.0 * rng.paretovariate(1.3), 2)
        x = p.accounts.get("x")
        row = {
            "Record ID": str(FIRST_RECORD_ID + len(contacts)),
            "First Name": p.first if rng.random() < 0.9 else p.first[0] + ".",
            "Last Name": p.last,
            "Email": f"{local}@{domain}",
            "Company Name": rng.choice(COMPANIES) if rng.random() < 0.6 else "",
            "Website URL": (p.website or "") if rng.random() < 0.7 else "",
            "Twitter Username": x.handle if x is not None and rng.random() < 0.3 else "",
            "City": p.city if rng.random() < 0.8 else "",
            "Job Title": p.role if rng.random() < 0.5 else "",
            "Lifecycle Stage": "customer" if revenue >= 200 or rng.random() < 0.5 else "opportunity",
            "Total Revenue": f"{revenue:.2f}",
        }
        contacts.append(CrmContact(p.index, row))
    return contacts


def crm_export_csv(people: Sequence[Person], seed: str, share: float = 0.15) -> bytes:
    """:func:`crm_contacts` as a CSV file (UTF-8, a header line)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(c.row for c in crm_contacts(people, seed, share))
    return out.getvalue().encode()
