"""The running service: configuration, MQTT link, the worker, systemd."""
