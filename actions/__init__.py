"""The rasa-sdk action server (dialogue/) and the domain it calls: retrieval, answers, cases, risk, alerts.

rasa-sdk imports every module of this package at start, so modules load nothing heavy at import.
"""
