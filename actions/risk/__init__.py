"""The export / trade-fair risk self-check: the staff-edited rules, reading the answers, scoring and the result."""
