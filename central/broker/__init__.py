"""Mosquitto with lockernet's configuration: started privately for tests and the simulator."""

from central.broker.launcher import BrokerError, PrivateBroker, broker_settings_path

__all__ = ["BrokerError", "PrivateBroker", "broker_settings_path"]
