"""Everything about the call: configuration, ports, the call engine, audio, speech engines."""
