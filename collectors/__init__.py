"""Live collectors (MQTT, OPC UA): separate programs that write the landing contract."""
