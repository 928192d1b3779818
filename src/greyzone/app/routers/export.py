"""Export: run the same curated export as ``greyzone export`` and report the counts."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict

from greyzone.app.state import State, require_token
from greyzone.errors import GreyzoneError

router = APIRouter(prefix="/api", tags=["export"])


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_proposals: bool = True
    apply_corrections: bool = False


@router.post("/export", dependencies=[Depends(require_token)])
def export(state: State, body: ExportIn | None = None) -> dict:
    """Write ``<workspace>/export`` (validated, swapped in atomically); 409 while another export runs."""
    from greyzone.export.tree import write_export

    body = body or ExportIn()
    if not state.export_lock.acquire(blocking=False):
        raise HTTPException(409, "an export is already running; try again when it has finished")
    try:
        start = time.perf_counter()
        result = write_export(state.ws, include_proposals=body.include_proposals,
                              apply_corrections=body.apply_corrections)
    except GreyzoneError as e:
        raise HTTPException(500, f"export failed: {e}") from e
    finally:
        state.export_lock.release()
    return {**result, "include_proposals": body.include_proposals,
            "apply_corrections": body.apply_corrections, "seconds": round(time.perf_counter() - start, 2)}
