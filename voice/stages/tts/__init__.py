"""Speech synthesis engines behind the ``Synthesizer`` port, and the audio cache."""
