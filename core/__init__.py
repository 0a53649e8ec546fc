"""What the channel server and the action server both speak: configuration, button payloads,
sender ids, languages, pseudonyms and the SQLite helpers."""
