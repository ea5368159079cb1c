"""The rasa-sdk action server: knowledge retrieval and answers (later: experts, cases, risk).

rasa-sdk imports every module of this package at start, so modules load nothing heavy at import.
"""
