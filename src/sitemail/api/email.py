"""GraphQL: sendTestEmail."""

from __future__ import annotations

import strawberry

from sitemail.api.context import Info
from sitemail.outbox.test_email import send_test_email


@strawberry.type
class EmailMutation:
    @strawberry.mutation(
        description="Send a test email synchronously with the current SMTP settings (site admins)."
    )
    async def send_test_email(self, info: Info, to: str) -> str:
        admin = info.context.require_site_admin()
        return await send_test_email(to, actor=admin)
