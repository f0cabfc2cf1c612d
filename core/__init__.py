"""The playlist service itself: domain, storage, authentication and limits. No protocol here."""
from .service import PlaylistService

__all__ = ["PlaylistService"]
