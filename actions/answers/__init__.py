"""From a question to the reply: what it asks, what must be refused, the quoted extract and its sources."""
