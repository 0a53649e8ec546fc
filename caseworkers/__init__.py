"""The caseworkers side: cases (the one owner of the case database), accounts and the desk,
notifications and translation. Imported by both the channel server and the action server."""
