"""Delivery partners: API keys with scopes, the partner API, webhooks."""
