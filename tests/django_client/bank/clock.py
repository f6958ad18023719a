"""The application server's clock, which need not agree with the database's.

Every timestamp the app writes (``auto_now``, ``auto_now_add``, model defaults) comes from
``app_clock()``: ``timezone.now()`` shifted by ``BANK_APP_CLOCK_SKEW_SECONDS`` (negative: the
app server runs behind the database). A test can thus simulate a drifting app server without
touching the machine's clock.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from django.db import models
from django.utils import timezone

SKEW_VARIABLE = "BANK_APP_CLOCK_SKEW_SECONDS"


def app_clock() -> dt.datetime:
    """Now, by the app server's clock. Read per call (cheap) so the skew can be changed by a
    process that has already imported the models."""
    skew = float(os.environ.get(SKEW_VARIABLE) or 0)
    return timezone.now() + dt.timedelta(seconds=skew)


class AppClockDateTimeField(models.DateTimeField):
    """A ``DateTimeField`` whose ``auto_now`` / ``auto_now_add`` read ``app_clock()``.

    Same timing as Django's own: the value is taken in ``pre_save``, i.e. when ``save()``
    builds its UPDATE/INSERT, or for ``bulk_create`` when each batch's INSERT is compiled.
    ``QuerySet.update()``, ``bulk_update()`` and ``save(update_fields=...)`` without this
    field never call it, exactly as with Django's field.
    """

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        if self.auto_now or (self.auto_now_add and add):
            value = app_clock()
            setattr(model_instance, self.attname, value)
            return value
        return super().pre_save(model_instance, add)
