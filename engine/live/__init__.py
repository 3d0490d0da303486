"""Paper and live trading: the pieces between the engine and an exchange."""
