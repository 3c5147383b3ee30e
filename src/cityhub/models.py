"""Every table of the hub, imported in one place so the metadata is complete."""

from __future__ import annotations

from cityhub import outbox as _outbox  # noqa: F401
from cityhub import webhooks as _webhooks  # noqa: F401
from cityhub.appointments import models as _appointments  # noqa: F401
from cityhub.autodebit import models as _autodebit  # noqa: F401
from cityhub.billing import models as _billing  # noqa: F401
from cityhub.cities import models as _cities  # noqa: F401
from cityhub.complaints import models as _complaints  # noqa: F401
from cityhub.connectors import models as _connectors  # noqa: F401
from cityhub.identity import audit as _audit  # noqa: F401
from cityhub.identity import models as _identity  # noqa: F401
from cityhub.lottery import models as _lottery  # noqa: F401
from cityhub.notices import models as _notices  # noqa: F401
from cityhub.outbox import usage as _usage  # noqa: F401
from cityhub.platform import cache as _cache  # noqa: F401
from cityhub.platform import idempotency as _idempotency  # noqa: F401
from cityhub.platform import job_models as _jobs  # noqa: F401
from cityhub.platform import throttle_sql as _throttle  # noqa: F401
from cityhub.platform.db import Base
from cityhub.requests import models as _requests  # noqa: F401
from cityhub.subsidies import models as _subsidies  # noqa: F401
from cityhub.web import models as _web  # noqa: F401

metadata = Base.metadata
