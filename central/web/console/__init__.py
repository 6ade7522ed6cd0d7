"""The operator console: server-rendered pages, a little JavaScript, live updates."""
