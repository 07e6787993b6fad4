"""HTTP adapters (Flask blueprints). Only these modules know HTTP and Twilio wire formats."""
