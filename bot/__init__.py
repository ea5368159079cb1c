"""The Rasa project's code and the processes around it: NLU components, channels, the launcher, the notifier."""
