"""The streaming layer shared by the real-time transports (Twilio Media Streams, SIP).

Frames of caller audio go through a voice-activity detector and an endpointer; the call engine's
``Play`` actions come out as paced 20 ms frames. Transports only translate their wire format.
"""
