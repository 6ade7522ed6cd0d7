"""The site's MQTT link: connection, reconnect policy, heartbeat."""
