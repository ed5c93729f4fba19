"""A demo organisation to try goalbot with: 40 people, 4 departments, goals at every level."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot import goals
from bot.commands import GoalDraft
from bot.org import PersonRow, import_people
from bot.people import Viewer, tenant_by_key
from storage.models import Goal, Person

DOMAIN = "example.com"

# (name, manager first name, department, team, role, time zone)
PEOPLE = [
    ("Maya Chen", "", "", "", "admin", "America/New_York"),
    ("Hana Ito", "Maya", "", "", "admin", "Europe/London"),
    ("Omar Haddad", "Maya", "Engineering", "", "manager", "Europe/Berlin"),
    ("Bo Larsen", "Omar", "Engineering", "Platform", "manager", "Europe/Copenhagen"),
    ("Ana Silva", "Bo", "Engineering", "Platform", "member", "Europe/Lisbon"),
    ("Ravi Patel", "Bo", "Engineering", "Platform", "member", "Asia/Kolkata"),
    ("Chloe Martin", "Bo", "Engineering", "Platform", "member", "Europe/Paris"),
    ("Diego Ruiz", "Omar", "Engineering", "Product", "manager", "Europe/Madrid"),
    ("Mei Wong", "Diego", "Engineering", "Product", "member", "Asia/Singapore"),
    ("Tom Becker", "Diego", "Engineering", "Product", "member", "Europe/Berlin"),
    ("Sara Kim", "Diego", "Engineering", "Product", "member", "America/Los_Angeles"),
    ("Lena Vogel", "Maya", "Sales", "", "manager", "Europe/Vienna"),
    ("Marco Rossi", "Lena", "Sales", "EMEA", "manager", "Europe/Rome"),
    ("Nina Kowalski", "Marco", "Sales", "EMEA", "member", "Europe/Warsaw"),
    ("Felix Braun", "Marco", "Sales", "EMEA", "member", "Europe/Zurich"),
    ("Aisha Bello", "Marco", "Sales", "EMEA", "member", "Africa/Lagos"),
    ("James Carter", "Lena", "Sales", "Americas", "manager", "America/Chicago"),
    ("Olivia Brown", "James", "Sales", "Americas", "member", "America/Toronto"),
    ("Lucas Souza", "James", "Sales", "Americas", "member", "America/Sao_Paulo"),
    ("Emma Davis", "James", "Sales", "Americas", "member", "America/Denver"),
    ("Priya Nair", "Maya", "Marketing", "", "manager", "Asia/Dubai"),
    ("Karin Olsen", "Priya", "Marketing", "Growth", "manager", "Europe/Oslo"),
    ("Yusuf Demir", "Karin", "Marketing", "Growth", "member", "Europe/Istanbul"),
    ("Julia Novak", "Karin", "Marketing", "Growth", "member", "Europe/Prague"),
    ("Pablo Vega", "Karin", "Marketing", "Growth", "member", "America/Mexico_City"),
    ("Grace Lee", "Priya", "Marketing", "Brand", "manager", "Asia/Seoul"),
    ("Ivan Petrov", "Grace", "Marketing", "Brand", "member", "Europe/Sofia"),
    ("Zoe Clark", "Grace", "Marketing", "Brand", "member", "Australia/Sydney"),
    ("Noah Wilson", "Grace", "Marketing", "Brand", "member", "Pacific/Auckland"),
    ("Jonas Berg", "Maya", "Customer Success", "", "manager", "Europe/Stockholm"),
    ("Elena Garcia", "Jonas", "Customer Success", "Onboarding", "manager", "Europe/Madrid"),
    ("Sam Taylor", "Elena", "Customer Success", "Onboarding", "member", "Europe/Dublin"),
    ("Leila Haddad", "Elena", "Customer Success", "Onboarding", "member", "Africa/Casablanca"),
    ("Ben Cohen", "Elena", "Customer Success", "Onboarding", "member", "Asia/Jerusalem"),
    ("Rosa Lima", "Jonas", "Customer Success", "Support", "manager", "America/Sao_Paulo"),
    ("Kenji Sato", "Rosa", "Customer Success", "Support", "member", "Asia/Tokyo"),
    ("Amir Karimi", "Rosa", "Customer Success", "Support", "member", "Asia/Tehran"),
    ("Fatima Zahra", "Rosa", "Customer Success", "Support", "member", "Africa/Casablanca"),
    ("Oscar Nilsson", "Rosa", "Customer Success", "Support", "member", "Europe/Stockholm"),
    ("Lily Evans", "Diego", "Engineering", "Product", "member", "Europe/London"),
]


def email_of(name: str) -> str:
    return f"{name.split()[0].lower()}@{DOMAIN}"


def demo_rows() -> list[PersonRow]:
    firsts = {name.split()[0]: name for name, *_ in PEOPLE}
    return [
        PersonRow(
            line=i + 2, email=email_of(name), name=name,
            manager_email=email_of(firsts[manager]) if manager else "",
            department=department, team=team, role=role, timezone=tz,
        )
        for i, (name, manager, department, team, role, tz) in enumerate(PEOPLE)
    ]


# (key, who, title, parent key, level, due, key result, progress/kr value, health, approver)
# A key result is (metric, start, target, unit); the value moves it (or sets progress when no KR).
GOALS = [
    ("arr", "maya", "Grow ARR to $12M", None, "company", "2027-12-31", ("ARR", 8, 12, "$M"), None, None, None),
    ("churn", "maya", "Cut customer churn to 3% a month", None, "company", "2027-12-31", ("Monthly churn", 5, 3, "%"), None, None, None),
    ("love", "maya", "Ship a product customers love", None, "company", "2027-12-31", ("NPS", 30, 50, ""), 38, "on_track", None),
    ("reliable", "omar", "Make the platform reliable", "love", "department", "2027-09-30", ("Uptime", 99.5, 99.95, "%"), 99.8, "on_track", "maya"),
    ("selfserve", "omar", "Ship self-serve onboarding", "churn", "department", "2027-06-30", None, None, None, "maya"),
    ("newbiz", "lena", "Close $3M in new business", "arr", "department", "2027-12-31", ("New bookings", 0, 3, "$M"), 1.1, "at_risk", "maya"),
    ("leads", "priya", "Generate 1,200 qualified leads", "arr", "department", "2027-12-31", ("SQLs", 0, 1200, ""), 450, "on_track", "maya"),
    ("retention", "jonas", "Reach 95% gross retention", "churn", "department", "2027-12-31", ("Gross retention", 88, 95, "%"), 90, "at_risk", "maya"),
    ("oncall", "bo", "Halve paging incidents", "reliable", "team", "2027-06-30", ("Pages per week", 20, 10, ""), 16, "on_track", "omar"),
    ("deploys", "bo", "Deploy ten times a day", "reliable", "team", "2027-09-30", None, 30, "off_track", "omar"),
    ("wizard", "diego", "Launch the setup wizard", "selfserve", "team", "2027-04-30", None, 55, "on_track", "omar"),
    ("emea", "marco", "Win 40 EMEA logos", "newbiz", "team", "2027-12-31", ("Logos", 0, 40, ""), 12, "at_risk", "lena"),
    ("americas", "james", "Win 60 Americas logos", "newbiz", "team", "2027-12-31", ("Logos", 0, 60, ""), 21, "on_track", "lena"),
    ("webinars", "karin", "Run 12 webinars", "leads", "team", "2027-12-31", ("Webinars", 0, 12, ""), 5, "on_track", "priya"),
    ("brand", "grace", "Refresh the brand", "leads", "team", "2027-05-31", None, 70, "on_track", "priya"),
    ("ttv", "elena", "Cut time to first value to 7 days", "retention", "team", "2027-06-30", ("Days to value", 21, 7, "days"), 14, "at_risk", "jonas"),
    ("csat", "rosa", "Keep CSAT above 92%", "retention", "team", "2027-12-31", ("CSAT", 85, 92, "%"), 89, "on_track", "jonas"),
    ("alerts", "ana", "Tune alerting to cut noise by half", "oncall", "individual", "2027-03-31", ("Noisy alerts", 40, 20, ""), 28, "on_track", "bo"),
    ("runbooks", "ravi", "Write runbooks for every tier-1 service", "oncall", "individual", "2027-02-28", None, 40, "at_risk", "bo"),
    ("ci", "chloe", "Make CI under 10 minutes", "deploys", "individual", "2027-04-30", ("CI minutes", 25, 10, "min"), 19, "off_track", "bo"),
    ("wizard-ui", "mei", "Design the wizard's first screens", "wizard", "individual", "2027-02-15", None, 80, "on_track", "diego"),
    ("wizard-api", "tom", "Build the wizard API", "wizard", "individual", "2027-03-31", None, 35, "at_risk", "diego"),
    ("nina-deals", "nina", "Close 15 deals in DACH", "emea", "individual", "2027-12-31", ("Deals", 0, 15, ""), 4, "at_risk", "marco"),
    ("olivia-deals", "olivia", "Close 20 deals in Canada", "americas", "individual", "2027-12-31", ("Deals", 0, 20, ""), 8, "on_track", "james"),
    ("yusuf-seo", "yusuf", "Grow organic traffic 30%", "leads", "individual", "2027-09-30", None, 20, "on_track", "karin"),
    ("sam-kickoffs", "sam", "Run kickoff calls within 48 hours", "ttv", "individual", "2027-03-31", None, 60, "on_track", "elena"),
    ("kenji-kb", "kenji", "Publish 50 help-center articles", "csat", "individual", "2027-06-30", ("Articles", 0, 50, ""), 22, "on_track", "rosa"),
    # Not aligned yet: no parent.
    ("sara-talk", "sara", "Give a talk at a conference", None, "individual", None, None, 10, None, "diego"),
    ("felix-german", "felix", "Learn German to B2", None, "individual", "2027-12-31", None, 25, None, "marco"),
    ("ivan-video", "ivan", "Produce a product video series", None, "individual", None, None, 0, None, "grace"),
    # Still waiting for the manager.
    ("ravi-k8s", "ravi", "Migrate the queue to Kubernetes", "reliable", "individual", "2027-05-31", None, None, None, None),
    ("lucas-brazil", "lucas", "Open the Brazilian market", "americas", "individual", "2027-12-31", None, None, None, None),
]


async def load_demo(session: AsyncSession, tenant_key: str = "default") -> bool:
    """Load the demo organisation unless the tenant already has people. True when loaded."""
    tenant = await tenant_by_key(session, tenant_key, create=True)
    assert tenant is not None
    if (await session.execute(select(Person.id).where(Person.tenant_id == tenant.id).limit(1))).first():
        return False
    await import_people(session, tenant, demo_rows())
    people = {p.email.split("@")[0]: p for p in (await session.execute(select(Person).where(Person.tenant_id == tenant.id))).scalars()}

    def as_(who: str) -> Viewer:
        return Viewer(person=people[who], tenant=tenant, platform="console")

    numbers: dict[str, int] = {}
    for key, who, title, parent, level, due, kr, value, health, approver in GOALS:
        draft = GoalDraft(
            title=title,
            parent=numbers[parent] if parent else None,
            due=date.fromisoformat(due) if due else None,
            level=level,
            private=key == "felix-german",
            category="development" if key in ("sara-talk", "felix-german") else None,
        )
        proposal = await goals.propose(session, as_(who), draft)
        goal: Goal = proposal.goal
        numbers[key] = goal.number
        if approver and goal.status == "proposed":
            await goals.approve(session, as_(approver), goal.number)
        if kr:
            await goals.add_key_result(session, as_(who), goal.number, *kr)
            if value is not None:
                await goals.update_key_result(session, as_(who), goal.number, 1, value)
        elif value is not None:
            await goals.progress(session, as_(who), goal.number, value, None, "")
        if health:
            note = {"at_risk": "Behind plan; see the latest numbers.", "off_track": "Blocked; needs help."}.get(health, "")
            await goals.progress(session, as_(who), goal.number, None, health, note)
    return True
