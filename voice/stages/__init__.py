"""The stage engines behind the ports: speech recognition, speech synthesis, audio codecs."""
