"""The staff and expert console: a small web app (FastAPI, server-rendered Jinja2 templates) beside the bot.

Staff see every case, assign and reassign experts, add notes and close cases with an outcome, and read the
service's figures; an expert sees only the cases offered to them or accepted by them, and accepts or declines.
Every action goes through actions/cases/service.py, in one transaction with its outbox rows, like the chat
and the command line. `python -m bot.console` serves it (make run starts it, on 127.0.0.1:CONSOLE_PORT).
"""
