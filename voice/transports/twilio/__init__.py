"""Twilio: signed webhooks (record and answer), TwiML, Media Streams."""
