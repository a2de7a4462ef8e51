"""Data trading platform: products, trades, register-before-circulate."""
