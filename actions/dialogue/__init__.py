"""The rasa-sdk actions and forms: thin adapters from a conversation to the domain packages."""
