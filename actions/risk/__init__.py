"""The export / trade-fair risk self-check: rules, answers, scoring and the result."""
