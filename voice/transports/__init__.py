"""Transport adapters: the only code that knows a wire format (Twilio, SIP)."""
