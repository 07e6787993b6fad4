"""The QA dashboard's queries, charts and background replays (the pages are in ``voice.web.dashboard``)."""
