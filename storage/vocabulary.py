"""The words goalbot's data is made of: levels, statuses, health, categories, roles, cadences.

Stored as plain strings (both engines keep them the same way); the parser, the
models, the forms and the cards all take them from here.
"""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    COMPANY = "company"
    DEPARTMENT = "department"
    TEAM = "team"
    INDIVIDUAL = "individual"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def rank(self) -> int:
        """0 for the company, 3 for an individual: a parent's rank is lower than its child's."""
        return list(Level).index(self)


class Status(StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    ACHIEVED = "achieved"
    MISSED = "missed"
    ARCHIVED = "archived"
    RETURNED = "returned"


class Health(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    BLOCKED = "blocked"  # waiting on someone else: told to the parent goal's owner and the manager

    @property
    def words(self) -> str:
        """As people say it: "at risk"."""
        return self.value.replace("_", " ")

    @classmethod
    def words_of(cls, value: str) -> str:
        """A stored health as words; an unknown value is shown as it is."""
        try:
            return cls(value).words
        except ValueError:
            return value


class Category(StrEnum):
    BUSINESS = "business"
    DEVELOPMENT = "development"
    CUSTOMER = "customer"
    OPERATIONAL = "operational"
    PERSONAL = "personal"


class Role(StrEnum):
    MEMBER = "member"
    MANAGER = "manager"
    ADMIN = "admin"


class UnitKind(StrEnum):
    COMPANY = "company"
    DEPARTMENT = "department"
    TEAM = "team"


class Cadence(StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"


class PeriodState(StrEnum):
    """What became of one person's check-in period."""

    PROMPTED = "prompted"  # a prompt was queued
    SKIPPED = "skipped"  # away, or a holiday: not counted against response rates
    MISSED = "missed"  # the clock was down past the prompt's local day
    DROPPED = "dropped"  # the prompt could not be delivered within its local day


class Awaiting(StrEnum):
    """Who must decide a proposed goal."""

    MANAGER = "manager"  # bottom-up: the proposer's manager
    OWNER = "owner"  # cascaded: whoever is responsible for the owning unit or person
