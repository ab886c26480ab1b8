"""Speech in: command recognizers behind one small push interface."""
