"""The evaluators' toolkit: conversation tests against the live bot, answer quality, NLU
cross-validation, dialogue stories and the Markdown report (`python -m eval.run`; guide in eval/README.md)."""
