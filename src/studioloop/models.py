"""Imports every domain's models so Alembic sees the whole schema.

Lives outside `db/` because `db` imports no domain; migrations and tests import it.
"""

from studioloop.accounts import models as accounts_models
from studioloop.api_keys import models as api_keys_models
from studioloop.billing import models as billing_models
from studioloop.booking import models as booking_models
from studioloop.chat import models as chat_models
from studioloop.credits import models as credits_models
from studioloop.db import idempotency as idempotency_models
from studioloop.db.base import Base
from studioloop.marketplace import models as marketplace_models
from studioloop.notifications import models as notifications_models
from studioloop.payments import models as payments_models
from studioloop.privacy import models as privacy_models
from studioloop.scheduling import models as scheduling_models
from studioloop.tenants import models as tenants_models
from studioloop.usage import models as usage_models

__all__ = [
    "Base",
    "accounts_models",
    "api_keys_models",
    "billing_models",
    "booking_models",
    "chat_models",
    "credits_models",
    "idempotency_models",
    "marketplace_models",
    "notifications_models",
    "payments_models",
    "privacy_models",
    "scheduling_models",
    "tenants_models",
    "usage_models",
]
