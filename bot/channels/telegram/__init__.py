"""The Telegram gateway."""
