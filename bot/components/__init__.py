"""Custom Rasa graph components (loaded by the Rasa server from config.yml)."""
