"""Speech recognition engines behind the ``Transcriber`` port."""
