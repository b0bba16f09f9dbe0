"""API models of the event trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class Event(BaseModel):
    id: int
    type: str
    actor: str
    subject_type: str
    subject_id: str
    data: dict[str, Any]
    created_at: datetime
