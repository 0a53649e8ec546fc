"""Channels and everything around them: the web chat (and later Telegram and
SMS), the client that talks to Rasa, settings and logging. Never imports Rasa."""
