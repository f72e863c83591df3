"""Who is acting, and what they may reach: the one place roles and scope are decided.

An attaché's scope is the set of countries the embassies assigned to them are
accredited to; staff and admins see everything. Services take an :class:`Actor`
and call these helpers; a record outside the scope answers 404, a role that may
not act answers 403 (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from engage.accounts.models import EmbassyAssignment, Role, User
from engage.errors import NotFound, PermissionDenied
from engage.i18n import _
from engage.places.models import Accreditation

#: Roles in increasing order of reach.
RANK = {Role.ALUMNUS: 0, Role.ATTACHE: 1, Role.STAFF: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class Actor:
    user: User
    #: Ids of the embassies an attaché works for (empty for other roles).
    embassy_ids: frozenset[int]
    #: ISO codes of the countries an attaché may see; None means every country.
    country_codes: frozenset[str] | None

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    @property
    def id(self) -> int:
        return int(self.user.id)

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]

    def can_see_country(self, code: str) -> bool:
        return self.country_codes is None or code in self.country_codes

    def can_act_for_embassy(self, embassy_id: int) -> bool:
        return self.at_least(Role.STAFF) or embassy_id in self.embassy_ids


async def load_actor(user: User) -> Actor:
    if user.role == Role.ATTACHE:
        embassy_ids = frozenset(
            await EmbassyAssignment.filter(user_id=user.id).values_list("embassy_id", flat=True)
        )
        countries = frozenset(
            await Accreditation.filter(embassy_id__in=list(embassy_ids)).values_list(
                "country_id", flat=True
            )
        )
        return Actor(user=user, embassy_ids=embassy_ids, country_codes=countries)
    if user.role in (Role.STAFF, Role.ADMIN):
        return Actor(user=user, embassy_ids=frozenset(), country_codes=None)
    return Actor(user=user, embassy_ids=frozenset(), country_codes=frozenset())


def require_role(actor: Actor, role: Role) -> None:
    """403 unless ``actor`` has ``role`` or a higher one."""
    if not actor.at_least(role):
        raise PermissionDenied(_("You are not allowed to do this."))


def require_country(actor: Actor, code: str) -> None:
    """404 (not 403) for a country outside the actor's scope: its records stay unseen."""
    if not actor.can_see_country(code):
        raise NotFound(_("Not found."))


def require_embassy(actor: Actor, embassy_id: int) -> None:
    if not actor.can_act_for_embassy(embassy_id):
        raise NotFound(_("Not found."))
