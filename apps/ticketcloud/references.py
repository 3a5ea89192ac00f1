"""Finding the configuration that names a team or category by id.

Rules and SLA policies keep those ids in JSON, where no foreign key protects them. On
SQLite a new row may get the id of a deleted one, so a rule or policy that still named
a deleted team would start to name the new team. Deleting a team or category that they
name is therefore refused, with the names to change first.
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ticketcloud.models import Rule, SlaPolicy


async def configuration_naming(session: AsyncSession, tenant_id: int, *,
                               team_id: int | None = None,
                               category_id: int | None = None) -> list[str]:
    """Return the tenant's rules and SLA policies that name the team or the category,
    as "rule 'Name'" and "SLA policy 'Name'", in their evaluation order."""
    naming = []
    rules = await session.exec(select(Rule).where(Rule.tenant_id == tenant_id)
                               .order_by(Rule.position))  # type: ignore[arg-type]
    for rule in rules.all():
        if any(_action_names(action, team_id, category_id) for action in rule.actions):
            naming.append(f"rule {rule.name!r}")
    policies = await session.exec(select(SlaPolicy).where(SlaPolicy.tenant_id == tenant_id)
                                  .order_by(SlaPolicy.position))  # type: ignore[arg-type]
    for policy in policies.all():
        conditions = policy.conditions
        if ((team_id is not None and team_id in conditions.get("team_ids", []))
                or (category_id is not None and category_id in conditions.get("category_ids", []))
                or (team_id is not None and any(item.get("team_id") == team_id
                                                for item in policy.escalation))):
            naming.append(f"SLA policy {policy.name!r}")
    return naming


def _action_names(action: dict[str, object], team_id: int | None,
                  category_id: int | None) -> bool:
    return ((team_id is not None and action.get("type") == "set_team"
             and action.get("value") == team_id)
            or (category_id is not None and action.get("type") == "set_category"
                and action.get("value") == category_id))
