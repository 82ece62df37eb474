"""The two HTTP adapters over facev3.api's handlers: Granian RSGI (granian_app, the default) and
Robyn (robyn_app). They only move bytes in and out of Api.handle."""
