"""TCR API emulator of localcloud: `TcrService(...).handle` serves TCR's wire protocol (see docs/localcloud-tcr.md)."""

from localcloud.tcr.service import AdminError, TcrService

__all__ = ["AdminError", "TcrService"]
