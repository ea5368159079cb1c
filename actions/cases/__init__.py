"""Cases handed to experts: the expert list and matching, opening, offers, escalation and status."""
