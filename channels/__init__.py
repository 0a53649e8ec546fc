"""The channel server: one web server for Telegram, SMS gateways and the web chat.
Every message goes in through relay.py to Rasa, and every reply out through its channel."""
