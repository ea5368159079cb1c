"""Probes the project keeps: a soak of many concurrent case conversations and fault injection (processes
killed, the database made read-only or deleted), each on a private supervised stack on 127.0.0.1."""
