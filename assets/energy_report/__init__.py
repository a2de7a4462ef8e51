"""Enterprise energy statistics reports and their agreement with the monitored daily energy."""
